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
	"github.com/rabibridge/rabibridge/internal/wire"
	"github.com/rabibridge/rabibridge/registry"
)

type item struct {
	SKU string `json:"sku" jsonschema:"minLength=2"`
	Qty int    `json:"qty" jsonschema:"minimum=1"`
}

type order struct {
	ID    string            `json:"id" jsonschema:"minLength=1"`
	When  time.Time         `json:"when"`
	Blob  []byte            `json:"blob"`
	Items []item            `json:"items"`
	Tags  map[string]string `json:"tags"`
	Note  *string           `json:"note"`
	Ship  *item             `json:"ship"`
	Must  *item             `json:"must,omitempty" jsonschema:"required"`
}

// handle sends v (kwargs, or the one positional argument) through the
// entry's Handle with codec c and returns the remote error, if any.
func handle(t *testing.T, e *entry.Entry, c wire.Codec, kwargs any) error {
	t.Helper()
	body, err := wire.AppendRequest(c, nil, nil, kwargs)
	if err != nil {
		t.Fatal(err)
	}
	req, err := wire.DecodeRequest(c, body)
	if err != nil {
		t.Fatal(err)
	}
	_, err = e.Handle(context.Background(), c, req, nil)
	return err
}

// TestValidateGoValues: a request built from the Go type passes validation
// through both codecs, with times, bytes and every nil a Go value can hold.
func TestValidateGoValues(t *testing.T) {
	r := registry.New()
	if err := registry.RegisterIn(r, "order", func(_ context.Context, o order) (int, error) { return len(o.Items), nil },
		registry.Options{Validate: true}); err != nil {
		t.Fatal(err)
	}
	e, _ := entry.Of(r).Lookup("order")
	note := "fragile"
	for _, o := range []order{
		{ID: "1", When: time.Now(), Blob: []byte{0, 1, 2}, Items: []item{{"ab", 1}}, Tags: map[string]string{"k": "v"}, Note: &note, Ship: &item{"cd", 2}, Must: &item{"ef", 3}},
		{ID: "2", Must: &item{"ef", 3}}, // nil slice, map, pointers; zero time
		{ID: "3", Items: []item{}, Tags: map[string]string{}, Blob: []byte{}, Must: &item{"ef", 3}},
	} {
		for _, c := range []wire.Codec{wire.Msgpack, wire.JSON} {
			if err := handle(t, e, c, o); err != nil {
				t.Errorf("%s %s: %v", c.Name(), o.ID, err)
			}
		}
	}
}

// TestValidateTightened: jsonschema tags still tighten fields, and every
// error names the path, the constraint, the value and the limit, at any
// depth.
func TestValidateTightened(t *testing.T) {
	r := registry.New()
	if err := registry.RegisterIn(r, "order", func(context.Context, order) (int, error) { return 0, nil },
		registry.Options{Validate: true}); err != nil {
		t.Fatal(err)
	}
	e, _ := entry.Of(r).Lookup("order")
	now := time.Now().UTC().Format(time.RFC3339)
	must := map[string]any{"sku": "ab", "qty": 1}
	for _, tc := range []struct {
		name   string
		kwargs any
		want   []string
	}{
		{"nested", order{ID: "", Items: []item{{"a", 0}}, Ship: &item{"abc", 0}, Must: &item{"ef", 3}},
			[]string{"/id: minLength: got 0, want 1", "/items/0/qty: minimum: got 0, want 1", "/items/0/sku: minLength: got 1, want 2", "/ship/qty: minimum: got 0, want 1"}},
		{"required missing", map[string]any{"id": "x", "when": now}, []string{"/: missing property 'must'"}},
		{"required null", map[string]any{"id": "x", "when": now, "must": nil}, []string{"/must: got null, want object"}},
		{"unknown field", map[string]any{"id": "x", "when": now, "must": must, "color": "red"}, []string{"additional properties 'color' not allowed"}},
		{"wrong type", map[string]any{"id": 5, "when": now, "must": must}, []string{"/id: got number, want string"}},
		{"nested wrong type", map[string]any{"id": "x", "when": now, "must": map[string]any{"sku": "ab", "qty": "many"}}, []string{"/must/qty: got string, want integer"}},
		{"not sent", map[string]any{"id": "x", "must": must}, []string{"/: missing property 'when'"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, c := range []wire.Codec{wire.Msgpack, wire.JSON} {
				err := handle(t, e, c, tc.kwargs)
				var re *rabibridge.RemoteError
				if !errors.As(err, &re) || re.Code != rabibridge.CodeInvalidArgument {
					t.Fatalf("%s: got %v, want invalid_argument", c.Name(), err)
				}
				for _, w := range tc.want {
					if !strings.Contains(re.Message, w) {
						t.Errorf("%s: %q lacks %q", c.Name(), re.Message, w)
					}
				}
				if strings.Contains(re.Message, "validation failed") || strings.Contains(re.Message, "want null") {
					t.Errorf("%s: vague or misleading: %q", c.Name(), re.Message)
				}
			}
		})
	}
}

// TestMissingArgument: a function of one positional argument called with
// none is refused, as Python refuses it, instead of running on a zero.
func TestMissingArgument(t *testing.T) {
	is := is.New(t)
	r := registry.New()
	ran := false
	is.NoErr(registry.RegisterIn(r, "echo", func(_ context.Context, x any) (any, error) { ran = true; return x, nil }, registry.Options{}))
	e, _ := entry.Of(r).Lookup("echo")
	body, _ := wire.AppendRequest(wire.Msgpack, nil, nil, nil)
	req, _ := wire.DecodeRequest(wire.Msgpack, body)
	_, err := e.Handle(context.Background(), wire.Msgpack, req, nil)
	is.Equal(rabibridge.CodeOf(err), rabibridge.CodeInvalidArgument)
	is.True(strings.Contains(err.Error(), "one argument"))
	is.True(!ran)
}
