// Package console serves the web console of a fleet (`rabibridge console`):
// one page of the live functions and their instances, their schemas, and a
// form built from each request schema that calls the function.
package console

import (
	"context"
	"embed"
	"encoding/json"
	"errors"
	"io"
	"io/fs"
	"net"
	"net/http"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/rabibridge/rabibridge"
	"github.com/rabibridge/rabibridge/caller"
	"github.com/rabibridge/rabibridge/internal/jsonvalue"
	"github.com/rabibridge/rabibridge/registry"
)

//go:embed static
var static embed.FS

// Config configures the console.
type Config struct {
	// Caller discovers the fleet and calls its async functions.
	Caller *caller.Caller
	// SyncCaller, a caller of Kind "sync", calls the sync functions; nil:
	// the page cannot call them.
	SyncCaller *caller.Caller
	// AllowCalls lets the page call functions; without it the console only
	// shows.
	AllowCalls bool
	// Discover is how long each look at the fleet collects answers; zero
	// means 700 ms.
	Discover time.Duration
	// CallTimeout bounds a call made from the page; zero means 30 s.
	CallTimeout time.Duration
	// Hosts, when set, are the only Host header values (without port) the
	// console answers: for a console on loopback, the loopback names, so
	// that no other site's page reaches it through a name that resolves
	// to 127.0.0.1 (DNS rebinding).
	Hosts []string
}

// HeaderCall must be on a call from the page: a browser sends a custom
// header across origins only after a CORS preflight, which the console
// never allows, so another site's page cannot make calls through it.
const HeaderCall = "X-Rabibridge-Console"

type console struct {
	cfg    Config
	assets http.Handler

	mu     sync.Mutex // one look at the fleet at a time
	last   []byte
	lastAt time.Time
}

// Handler returns the console's http.Handler.
func Handler(cfg Config) http.Handler {
	if cfg.Discover <= 0 {
		cfg.Discover = 700 * time.Millisecond
	}
	if cfg.CallTimeout <= 0 {
		cfg.CallTimeout = 30 * time.Second
	}
	sub, _ := fs.Sub(static, "static")
	c := &console{cfg: cfg, assets: http.FileServerFS(sub)}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /api/fleet", c.fleet)
	mux.HandleFunc("POST /api/call", c.call)
	mux.Handle("GET /", c.assets)
	return c.guard(mux)
}

// LoopbackHosts are the Host names of a console bound to loopback.
var LoopbackHosts = []string{"localhost", "127.0.0.1", "::1"}

// IsLoopback reports whether addr (host:port) binds only to loopback.
func IsLoopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func (c *console) guard(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if len(c.cfg.Hosts) > 0 {
			host := r.Host
			if h, _, err := net.SplitHostPort(host); err == nil {
				host = h
			}
			host = strings.Trim(host, "[]")
			ok := false
			for _, h := range c.cfg.Hosts {
				ok = ok || strings.EqualFold(h, host)
			}
			if !ok {
				http.Error(w, "this console answers only to "+strings.Join(c.cfg.Hosts, ", "), http.StatusMisdirectedRequest)
				return
			}
		}
		h := w.Header()
		h.Set("Content-Security-Policy", "default-src 'self'; frame-ancestors 'none'")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		next.ServeHTTP(w, r)
	})
}

// fleetView is what /api/fleet answers.
type fleetView struct {
	AllowCalls bool           `json:"allow_calls"`
	At         time.Time      `json:"at"`
	Instances  []instanceView `json:"instances"`
	Functions  []functionView `json:"functions"`
}

type instanceView struct {
	ID        string    `json:"id"`
	Host      string    `json:"host"`
	PID       int       `json:"pid"`
	Version   string    `json:"version"`
	Started   time.Time `json:"started"`
	Functions []string  `json:"functions"`
}

// functionView is a function over the instances that serve it.
type functionView struct {
	Name        string           `json:"name"`
	Kind        string           `json:"kind"`
	Description string           `json:"description,omitempty"`
	Instances   int              `json:"instances"`
	Calls       int64            `json:"calls"`
	Errors      map[string]int64 `json:"errors"`
	InFlight    int64            `json:"in_flight"`
	MeanMS      float64          `json:"mean_ms"`
	P99MS       float64          `json:"p99_ms"` // the largest instance's
	Validate    bool             `json:"validate"`
	RunOnce     bool             `json:"run_once"`
	DeadLetters bool             `json:"dead_letters"`
	Request     json.RawMessage  `json:"request"`
	Response    json.RawMessage  `json:"response"`
}

func (c *console) fleet(w http.ResponseWriter, r *http.Request) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if time.Since(c.lastAt) < c.cfg.Discover { // several tabs: one look serves them
		writeJSON(w, http.StatusOK, json.RawMessage(c.last))
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), c.cfg.Discover)
	defer cancel()
	ins, err := c.cfg.Caller.Discover(ctx)
	if err != nil {
		writeJSON(w, http.StatusBadGateway, map[string]string{"error": err.Error()})
		return
	}
	b, err := json.Marshal(view(ins, c.cfg.AllowCalls))
	if err != nil {
		writeJSON(w, http.StatusInternalServerError, map[string]string{"error": err.Error()})
		return
	}
	c.last, c.lastAt = b, time.Now()
	writeJSON(w, http.StatusOK, json.RawMessage(b))
}

// view sums the instances' counts per function.
func view(ins []registry.Instance, allowCalls bool) fleetView {
	v := fleetView{AllowCalls: allowCalls, At: time.Now().UTC(), Instances: []instanceView{}, Functions: []functionView{}}
	byName := map[string]*functionView{}
	var weighted = map[string]float64{}
	for _, in := range ins {
		iv := instanceView{ID: in.ID, Host: in.Host, PID: in.PID, Version: in.Version, Started: in.Started, Functions: []string{}}
		for _, f := range in.Functions {
			iv.Functions = append(iv.Functions, f.Name)
			fv := byName[f.Name]
			if fv == nil {
				fv = &functionView{Name: f.Name, Kind: f.Kind, Description: f.Description, Errors: map[string]int64{},
					Validate: f.Validate, RunOnce: f.OnceTTLMS > 0, DeadLetters: f.MaxDeliveries > 0,
					Request: f.Request, Response: f.Response}
				byName[f.Name] = fv
			}
			fv.Instances++
			fv.Calls += f.Stats.Calls
			fv.InFlight += f.Stats.InFlight
			for code, n := range f.Stats.Errors {
				fv.Errors[code] += n
			}
			weighted[f.Name] += f.Stats.MeanMS * float64(f.Stats.Calls)
			fv.P99MS = max(fv.P99MS, f.Stats.P99MS)
		}
		v.Instances = append(v.Instances, iv)
	}
	for name, fv := range byName {
		if fv.Calls > 0 {
			fv.MeanMS = weighted[name] / float64(fv.Calls)
		}
		v.Functions = append(v.Functions, *fv)
	}
	sort.Slice(v.Functions, func(i, j int) bool { return v.Functions[i].Name < v.Functions[j].Name })
	sort.Slice(v.Instances, func(i, j int) bool { return v.Instances[i].ID < v.Instances[j].ID })
	return v
}

// callRequest is what the page posts to /api/call.
type callRequest struct {
	Function string          `json:"function"`
	Kind     string          `json:"kind"`
	Args     json.RawMessage `json:"args"` // an object: keyword arguments; an array: positional; else the one argument
}

// callResult is what /api/call answers: the result's JSON text, in a
// string so that the page shows it exactly (its numbers are float64s), or
// the error and its code.
type callResult struct {
	OK     bool    `json:"ok"`
	Result string  `json:"result,omitempty"`
	Code   string  `json:"code,omitempty"`
	Error  string  `json:"error,omitempty"`
	MS     float64 `json:"ms"`
}

// maxCallBody bounds what the page may post.
const maxCallBody = 1 << 20

func (c *console) call(w http.ResponseWriter, r *http.Request) {
	if !c.cfg.AllowCalls {
		writeJSON(w, http.StatusForbidden, map[string]string{"error": "this console is read-only: start it with --allow-calls to call functions"})
		return
	}
	if r.Header.Get(HeaderCall) == "" {
		writeJSON(w, http.StatusForbidden, map[string]string{"error": "a call needs the " + HeaderCall + " header"})
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxCallBody))
	if err != nil {
		writeJSON(w, http.StatusRequestEntityTooLarge, map[string]string{"error": err.Error()})
		return
	}
	var req callRequest
	if err := json.Unmarshal(body, &req); err != nil || req.Function == "" {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "want {\"function\": NAME, \"args\": ...}"})
		return
	}
	var args []any
	var kwargs map[string]any
	if len(req.Args) > 0 && string(req.Args) != "null" {
		v, err := jsonvalue.Decode(req.Args)
		if err != nil {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": "args: " + err.Error()})
			return
		}
		switch v := v.(type) {
		case map[string]any:
			kwargs = v
		case []any:
			args = v
		default:
			args = []any{v}
		}
	}
	ctx, cancel := context.WithTimeout(r.Context(), c.cfg.CallTimeout)
	defer cancel()
	cl := c.cfg.Caller
	if req.Kind == "sync" {
		if cl = c.cfg.SyncCaller; cl == nil {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": "this console calls no sync functions"})
			return
		}
	}
	start := time.Now()
	v, err := cl.Invoke(ctx, req.Function, args, kwargs)
	res := callResult{MS: float64(time.Since(start).Microseconds()) / 1000}
	if err != nil {
		res.Code, res.Error = string(rabibridge.CodeOf(err)), strings.TrimPrefix(err.Error(), "caller: ")
		var re *rabibridge.RemoteError
		if errors.As(err, &re) {
			res.Error = re.Message
		}
		writeJSON(w, http.StatusOK, res)
		return
	}
	out, err := json.Marshal(jsonvalue.Printable(v))
	if err != nil {
		res.Code, res.Error = string(rabibridge.CodeInternal), "the result has no JSON form: "+err.Error()
		writeJSON(w, http.StatusOK, res)
		return
	}
	res.OK, res.Result = true, string(out)
	writeJSON(w, http.StatusOK, res)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}
