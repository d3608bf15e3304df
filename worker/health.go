package worker

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
)

// Health is what a worker knows of whether it serves (see Worker.Health).
type Health struct {
	// Live: the worker's own loops run: it is serving, starting or
	// draining, and Serve has not returned. A broker outage leaves a
	// worker live: it reconnects by itself, and restarting it would not
	// help.
	Live bool `json:"live"`
	// Ready: the worker serves every function now: it is connected, the
	// broker does not block it, and every function's consumers are
	// attached to its queue. Problems says why not.
	Ready bool `json:"ready"`
	// Connected: the connection to the broker is up.
	Connected bool `json:"connected"`
	// Blocked is why the broker blocks the connection (a memory or disk
	// alarm: replies cannot go out); empty while it does not.
	Blocked string `json:"blocked,omitempty"`
	// Functions are the worker's functions, by name, and whether each is
	// consumed.
	Functions []FunctionHealth `json:"functions"`
	// Problems name what keeps the worker from being ready, one per line
	// of thought: "no connection to the broker", "function add is not
	// consumed", and so on. Empty while Ready.
	Problems []string `json:"problems,omitempty"`
}

// FunctionHealth is one function's part of Health.
type FunctionHealth struct {
	// Name is the function's name.
	Name string `json:"name"`
	// Consumers is how many of the function's consumers are attached to
	// its queue now.
	Consumers int `json:"consumers"`
	// Want is how many consumers the function has (Config.Consumers, or 1
	// for a Sync function).
	Want int `json:"want"`
}

// Health reports whether the worker serves now. It is cheap: it reads
// state the worker keeps, and asks the broker nothing, so probes may call
// it as often as they like.
func (w *Worker) Health() Health {
	h := Health{Live: w.started.Load() && !w.over.Load()}
	st := w.conn.State()
	h.Connected, h.Blocked = st.Connected, st.Blocked
	w.mu.Lock()
	for _, f := range w.functions {
		fh := FunctionHealth{Name: f.name, Want: len(f.subs)}
		for _, s := range f.subs {
			if s.Attached() {
				fh.Consumers++
			}
		}
		h.Functions = append(h.Functions, fh)
	}
	w.mu.Unlock()
	switch {
	case !w.started.Load():
		h.Problems = append(h.Problems, "not started")
	case w.over.Load():
		h.Problems = append(h.Problems, "stopped")
	case w.draining.Load():
		h.Problems = append(h.Problems, "draining")
	default:
		select {
		case <-w.ready:
		default:
			h.Problems = append(h.Problems, "starting")
		}
	}
	if !h.Connected {
		h.Problems = append(h.Problems, "no connection to the broker")
	}
	if h.Blocked != "" {
		h.Problems = append(h.Problems, "the broker blocks the connection: "+h.Blocked)
	}
	for _, f := range h.Functions {
		if f.Consumers < f.Want {
			h.Problems = append(h.Problems, fmt.Sprintf("function %s is not consumed (%d of %d consumers attached)", f.Name, f.Consumers, f.Want))
		}
	}
	h.Ready = len(h.Problems) == 0
	return h
}

// HealthHandler returns an http.Handler for a service's own mux that
// answers Kubernetes-style probes from Health:
//
//   - a path ending in /readyz: 200 while the worker is ready, else 503;
//   - a path ending in /healthz (or /livez): 200 while it is live, else 503.
//
// Both write Health as JSON, so a 503 names what is wrong. Any other path
// gets 404. Mount it on the paths you probe:
//
//	mux.Handle("/readyz", w.HealthHandler())
//	mux.Handle("/healthz", w.HealthHandler())
func (w *Worker) HealthHandler() http.Handler {
	return http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		var ok bool
		switch p := strings.TrimSuffix(r.URL.Path, "/"); {
		case strings.HasSuffix(p, "/readyz"):
			h := w.Health()
			ok = h.Ready
			writeHealth(rw, h, ok)
		case strings.HasSuffix(p, "/healthz"), strings.HasSuffix(p, "/livez"):
			h := w.Health()
			ok = h.Live
			writeHealth(rw, h, ok)
		default:
			http.NotFound(rw, r)
		}
	})
}

func writeHealth(rw http.ResponseWriter, h Health, ok bool) {
	rw.Header().Set("Content-Type", "application/json")
	rw.Header().Set("Cache-Control", "no-store")
	if !ok {
		rw.WriteHeader(http.StatusServiceUnavailable)
	}
	json.NewEncoder(rw).Encode(h)
}
