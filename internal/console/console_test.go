package console_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/rabibridge/rabibridge/bridge"
	"github.com/rabibridge/rabibridge/caller"
	"github.com/rabibridge/rabibridge/internal/console"
	"github.com/rabibridge/rabibridge/internal/demo"
	"github.com/rabibridge/rabibridge/registry"
	"github.com/rabibridge/rabibridge/worker"
)

// order is a request with the shapes the page's form builds: a nested
// object, an enum, an array of objects and an optional boolean.
type order struct {
	Customer customer `json:"customer" msgpack:"customer"`
	Items    []item   `json:"items" msgpack:"items"`
	Rush     bool     `json:"rush,omitempty" msgpack:"rush,omitempty"`
}

type customer struct {
	Name string `json:"name" msgpack:"name"`
	Tier string `json:"tier" msgpack:"tier" jsonschema:"enum=gold,enum=silver"`
}

type item struct {
	SKU string `json:"sku" msgpack:"sku"`
	Qty int    `json:"qty" msgpack:"qty" jsonschema:"minimum=1"`
}

func place(_ context.Context, o order) (string, error) {
	units := 0
	for _, it := range o.Items {
		units += it.Qty
	}
	return fmt.Sprintf("%s/%s: %d items, %d units, rush=%v", o.Customer.Name, o.Customer.Tier, len(o.Items), units, o.Rush), nil
}

// serveDemo serves the demo functions, "order" and a sync "tick" on an
// in-process broker of t's own; it returns an async and a sync caller.
func serveDemo(t *testing.T) (*caller.Caller, *caller.Caller) {
	t.Helper()
	ctx := context.Background()
	conn, err := bridge.Dial(ctx, bridge.Config{URL: "mem://" + t.Name()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	reg := registry.New()
	if err := demo.Register(reg, demo.Options); err != nil {
		t.Fatal(err)
	}
	if err := registry.RegisterIn(reg, "order", place, registry.Options{Validate: true}); err != nil {
		t.Fatal(err)
	}
	if err := registry.RegisterIn(reg, "tick", func(context.Context, struct{}) (string, error) { return "tock", nil },
		registry.Options{Kind: registry.Sync}); err != nil {
		t.Fatal(err)
	}
	w := worker.New(conn, reg, worker.Config{})
	if err := w.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.Shutdown(context.Background()) })
	async, err := caller.New(conn, caller.Config{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { async.Close() })
	sync, err := caller.New(conn, caller.Config{Kind: "sync"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sync.Close() })
	return async, sync
}

func post(t *testing.T, h http.Handler, body string, headers map[string]string) (int, map[string]any) {
	t.Helper()
	r := httptest.NewRequest("POST", "http://127.0.0.1/api/call", strings.NewReader(body))
	for k, v := range headers {
		r.Header.Set(k, v)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, r)
	var out map[string]any
	d := json.NewDecoder(rec.Body)
	d.UseNumber()
	if err := d.Decode(&out); err != nil {
		t.Fatalf("%s: %v: %s", body, err, rec.Body)
	}
	return rec.Code, out
}

// TestConsoleAPI: what the page relies on, and what keeps other pages out.
func TestConsoleAPI(t *testing.T) {
	async, sync := serveDemo(t)
	h := console.Handler(console.Config{Caller: async, SyncCaller: sync, AllowCalls: true, Hosts: console.LoopbackHosts})
	call := map[string]string{console.HeaderCall: "call"}

	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "http://127.0.0.1/api/fleet", nil))
	var fleet struct {
		AllowCalls bool `json:"allow_calls"`
		Functions  []struct {
			Name     string          `json:"name"`
			Kind     string          `json:"kind"`
			Request  json.RawMessage `json:"request"`
			Validate bool            `json:"validate"`
		} `json:"functions"`
		Instances []struct{ ID string } `json:"instances"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &fleet); err != nil || rec.Code != 200 {
		t.Fatalf("/api/fleet: %d %v %s", rec.Code, err, rec.Body)
	}
	var names []string
	for _, f := range fleet.Functions {
		names = append(names, f.Name+"/"+f.Kind)
	}
	if got := strings.Join(names, ","); got != "add/async,echo/async,fail/async,fib/async,order/async,sleep/async,tick/sync" || len(fleet.Instances) != 1 || !fleet.AllowCalls {
		t.Errorf("/api/fleet: %s, %d instances", got, len(fleet.Instances))
	}
	if strings.Contains(rec.Body.String(), "guest") || strings.Contains(rec.Body.String(), "amqp") {
		t.Error("/api/fleet names the broker")
	}

	for _, tc := range []struct {
		body, want string
	}{
		{`{"function":"add","args":{"a":1,"b":2}}`, `"result":"3"`},
		{`{"function":"echo","args":[18446744073709551615]}`, `"result":"18446744073709551615"`}, // exact past 2^53
		{`{"function":"fib","args":[10]}`, `"result":"55"`},
		{`{"function":"tick","kind":"sync","args":{}}`, `"result":"\"tock\""`},
		{`{"function":"add","args":{"a":1}}`, `"code":"invalid_argument"`},
		{`{"function":"fail"}`, `"code":"internal"`},
		{`{"function":"nosuch"}`, `"code":"not_found"`},
	} {
		code, out := post(t, h, tc.body, call)
		b, _ := json.Marshal(out)
		if code != 200 || !strings.Contains(string(b), tc.want) {
			t.Errorf("%s: %d %s, want %s", tc.body, code, b, tc.want)
		}
	}
	if code, out := post(t, h, `{"function":"add","args":{"a":1,"b":2}}`, nil); code != 403 || !strings.Contains(out["error"].(string), console.HeaderCall) {
		t.Errorf("a call without the header: %d %v", code, out)
	}
	if code, _ := post(t, h, `{"args":{}}`, call); code != 400 {
		t.Errorf("a call without a function: %d", code)
	}
	if code, _ := post(t, h, `{"function":"echo","args":[123456789012345678901234]}`, call); code != 400 {
		t.Errorf("an integer past 64 bits: %d", code)
	}

	ro := console.Handler(console.Config{Caller: async})
	if code, out := post(t, ro, `{"function":"add","args":{"a":1,"b":2}}`, call); code != 403 || !strings.Contains(out["error"].(string), "--allow-calls") {
		t.Errorf("a read-only console: %d %v", code, out)
	}

	rec = httptest.NewRecorder()
	r := httptest.NewRequest("GET", "http://rebound.example:8089/", nil)
	h.ServeHTTP(rec, r)
	if rec.Code != http.StatusMisdirectedRequest {
		t.Errorf("a foreign Host: %d", rec.Code)
	}
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "http://localhost:8089/", nil))
	if rec.Code != 200 || !strings.Contains(rec.Body.String(), "app.js") || rec.Header().Get("Content-Security-Policy") == "" {
		t.Errorf("the page: %d, CSP %q", rec.Code, rec.Header().Get("Content-Security-Policy"))
	}
	for _, p := range []string{"/app.js", "/style.css"} {
		rec = httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("GET", "http://[::1]:8089"+p, nil))
		if rec.Code != 200 || rec.Body.Len() < 500 {
			t.Errorf("%s: %d, %d bytes", p, rec.Code, rec.Body.Len())
		}
	}
	if !console.IsLoopback("127.0.0.1:8089") || !console.IsLoopback("[::1]:1") || console.IsLoopback(":8089") || console.IsLoopback("0.0.0.0:1") {
		t.Error("IsLoopback")
	}
}
