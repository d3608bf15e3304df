package registry_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/matryer/is"

	"github.com/rabibridge/rabibridge"
	"github.com/rabibridge/rabibridge/internal/entry"
	"github.com/rabibridge/rabibridge/internal/protocol"
	"github.com/rabibridge/rabibridge/internal/wire"
	"github.com/rabibridge/rabibridge/once"
	"github.com/rabibridge/rabibridge/registry"
)

type addReq struct {
	A int `msgpack:"a" json:"a" jsonschema:"minimum=0"`
	B int `msgpack:"b" json:"b"`
}

func add(_ context.Context, r addReq) (int, error) { return r.A + r.B, nil }

func TestRegisterErrors(t *testing.T) {
	r := registry.New()
	if err := registry.RegisterIn(r, "add", add, registry.Options{}); err != nil {
		t.Fatal(err)
	}
	type badTags struct {
		A int `msgpack:"a" json:"x"`
	}
	type badCase struct {
		X int `msgpack:"x" json:"X"` // the json tag is the Go name: still another name than msgpack's
	}
	for _, tc := range []struct {
		name string
		err  error
	}{
		{"duplicate", registry.RegisterIn(r, "add", add, registry.Options{})},
		{"empty name", registry.RegisterIn(r, "", add, registry.Options{})},
		{"space in name", registry.RegisterIn(r, "a b", add, registry.Options{})},
		{"name too long", registry.RegisterIn(r, strings.Repeat("x", 201), add, registry.Options{})},
		{"negative size", registry.RegisterIn(r, "neg", add, registry.Options{QueueSize: -1})},
		{"sub-millisecond timeout", registry.RegisterIn(r, "tiny", add, registry.Options{MaxQueueWait: time.Microsecond})},
		{"the old name disagrees", registry.RegisterIn(r, "both", add, registry.Options{MaxQueueWait: time.Second, Timeout: 2 * time.Second})},
		{"unknown kind", registry.RegisterIn(r, "kind", add, registry.Options{Kind: "batch"})},
		{"OnceTTL without a store", registry.RegisterIn(r, "ttl", add, registry.Options{OnceTTL: time.Hour})},
		{"negative OnceTTL", registry.RegisterIn(r, "ttl", add, registry.Options{Once: once.NewMemory(), OnceTTL: -time.Hour})},
		{"nil handler", registry.RegisterIn[int, int](r, "nil", nil, registry.Options{})},
		{"tags disagree", registry.RegisterIn(r, "tags", func(context.Context, badTags) (int, error) { return 0, nil }, registry.Options{})},
		{"tags disagree in case", registry.RegisterIn(r, "case", func(context.Context, badCase) (int, error) { return 0, nil }, registry.Options{})},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.err == nil {
				t.Fatal("want an error")
			}
		})
	}
	is := is.New(t)
	is.True(errors.Is(registry.RegisterIn(r, "add", add, registry.Options{}), registry.ErrDuplicate))
	is.Equal(len(entry.Of(r).Entries()), 1) // failed registrations leave nothing behind
}

func TestEntryDefaultsAndInfo(t *testing.T) {
	is := is.New(t)
	r := registry.New()
	is.NoErr(registry.RegisterIn(r, "b", add, registry.Options{}))
	is.NoErr(registry.RegisterIn(r, "a", add, registry.Options{QueueSize: 10, MaxQueueWait: 1500 * time.Millisecond, Kind: registry.Sync, Description: "adds"}))
	es := entry.Of(r).Entries()
	is.Equal(es[0].Name(), "a") // sorted
	is.Equal(es[1].Function.FetchSize, protocol.DefaultFetchSize)
	is.Equal(es[1].Function.Kind, string(registry.Async))
	info := es[0].Function
	is.Equal(info.TimeoutMS, int64(1500))
	is.Equal(info.Kind, string(registry.Sync))
	is.True(strings.Contains(string(info.Request), `"minimum":0`))
	is.Equal(es[1].Function.OnceTTLMS, int64(0)) // not run-once
	is.NoErr(registry.RegisterIn(r, "c", add, registry.Options{Once: once.NewMemory()}))
	c, _ := entry.Of(r).Lookup("c")
	is.Equal(c.Function.OnceTTLMS, (24 * time.Hour).Milliseconds()) // the default TTL, in discovery
	is.True(r.Remove("a"))
	_, ok := entry.Of(r).Lookup("a")
	is.True(!ok)
}

func TestHandle(t *testing.T) {
	r := registry.New()
	_ = registry.RegisterIn(r, "add", add, registry.Options{Validate: true})
	_ = registry.RegisterIn(r, "loose", add, registry.Options{})
	_ = registry.RegisterIn(r, "fails", func(context.Context, addReq) (int, error) {
		return 0, rabibridge.Errorf(rabibridge.CodeFailedPrecondition, "not now")
	}, registry.Options{})
	for _, tc := range []struct {
		fn     string
		args   []any
		kwargs map[string]any
		want   int
		code   rabibridge.Code
	}{
		{"add", nil, map[string]any{"a": 1, "b": 2}, 3, rabibridge.CodeOK},
		{"add", []any{4, 5}, nil, 9, rabibridge.CodeOK},
		{"add", nil, map[string]any{"a": -1, "b": 2}, 0, rabibridge.CodeInvalidArgument},
		{"add", nil, map[string]any{"a": 1}, 0, rabibridge.CodeInvalidArgument},
		{"add", nil, map[string]any{"a": "x", "b": 1}, 0, rabibridge.CodeInvalidArgument},
		{"loose", nil, map[string]any{"a": -1, "b": 2}, 1, rabibridge.CodeOK}, // no validation asked
		{"loose", nil, map[string]any{"a": "x", "b": 1}, 0, rabibridge.CodeInvalidArgument},
		{"fails", nil, nil, 0, rabibridge.CodeFailedPrecondition},
	} {
		t.Run(tc.fn, func(t *testing.T) {
			is := is.New(t)
			e, ok := entry.Of(r).Lookup(tc.fn)
			is.True(ok)
			body, err := wire.AppendRequest(wire.Msgpack, nil, tc.args, tc.kwargs)
			is.NoErr(err)
			req, err := wire.DecodeRequest(wire.Msgpack, body)
			is.NoErr(err)
			out, err := e.Handle(context.Background(), wire.Msgpack, req, nil)
			is.Equal(rabibridge.CodeOf(err), tc.code)
			if err != nil {
				return
			}
			ok, res, _, err := wire.DecodeReply(wire.Msgpack, out)
			is.NoErr(err)
			is.True(ok)
			var n int
			is.NoErr(wire.Msgpack.Unmarshal(res, &n))
			is.Equal(n, tc.want)
		})
	}
}

func TestValidationNamesEveryPath(t *testing.T) {
	is := is.New(t)
	r := registry.New()
	_ = registry.RegisterIn(r, "add", add, registry.Options{Validate: true})
	e, _ := entry.Of(r).Lookup("add")
	body, _ := wire.AppendRequest(wire.Msgpack, nil, nil, map[string]any{"a": -1, "b": "x"})
	req, _ := wire.DecodeRequest(wire.Msgpack, body)
	_, err := e.Handle(context.Background(), wire.Msgpack, req, nil)
	var re *rabibridge.RemoteError
	is.True(errors.As(err, &re))
	is.True(strings.Contains(re.Message, "/a"))
	is.True(strings.Contains(re.Message, "/b"))
}

// TestQueueWaitOldName: Timeout, MaxQueueWait's deprecated old name, still
// sets the queue's wait, and agrees with it when both are set.
func TestQueueWaitOldName(t *testing.T) {
	is := is.New(t)
	r := registry.New()
	is.NoErr(registry.RegisterIn(r, "old", add, registry.Options{Timeout: 1500 * time.Millisecond}))
	is.NoErr(registry.RegisterIn(r, "both", add, registry.Options{Timeout: time.Second, MaxQueueWait: time.Second}))
	for _, e := range entry.Of(r).Entries() {
		want := map[string]time.Duration{"old": 1500 * time.Millisecond, "both": time.Second}[e.Name()]
		is.Equal(e.Timeout, want)
		is.Equal(e.Function.TimeoutMS, want.Milliseconds())
	}
}
