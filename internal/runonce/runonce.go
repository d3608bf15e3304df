// Package runonce runs the handlers of run-once functions
// (registry.Options.Once): at most one run per key while a once.Store
// remembers it, the first run's result for every call after it.
//
// A key's record is a claim while a run is under way, "r" and the run's
// owner, kept for a lease that the run renews until it ends; then the
// result, "d" and its msgpack encoding, kept for the function's TTL. A call
// that finds a claim waits for the result; a claim whose run died (its
// worker killed, cut off) lapses at the end of its lease, and the next call
// with its key runs the handler. A handler's error is not remembered: the
// claim is dropped and the next call runs again.
package runonce

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"reflect"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rabibridge/rabibridge"
	"github.com/rabibridge/rabibridge/internal/wire"
	"github.com/rabibridge/rabibridge/once"
)

// DefaultTTL is how long a result is remembered when the function sets no
// TTL.
const DefaultTTL = 24 * time.Hour

// Lease is how long a claim outlives the last sign of its run: a run
// renews it every Lease/3, so a run that died holds its key for at most
// Lease.
var Lease = 10 * time.Second

// storeTimeout bounds the store operations made after the handler's
// context may have ended: recording the result, dropping the claim.
const storeTimeout = 5 * time.Second

// CallKey is the context key under which a worker's handler context holds
// the Call it runs.
type CallKey struct{}

// Call is what a worker tells a run-once handler of the call it runs.
type Call struct {
	// ID names the call on the wire: its reply address and correlation id,
	// which a redelivery keeps.
	ID string
	// Scope is the worker instance's id for a call sent to every instance
	// (caller.Gather), which each runs once; empty otherwise.
	Scope string
	// Instance is the worker instance's id, named in claims.
	Instance string
	// Log is the worker's logger.
	Log *slog.Logger
}

// keyer is a request that names its call's key.
type keyer interface{ IdempotencyKey() string }

// Wrap returns fn, run once per key through store; results are kept for
// ttl (zero: DefaultTTL).
func Wrap[Req, Resp any](name string, fn func(context.Context, Req) (Resp, error), store once.Store, ttl time.Duration) func(context.Context, Req) (Resp, error) {
	if ttl <= 0 {
		ttl = DefaultTTL
	}
	return func(ctx context.Context, req Req) (Resp, error) {
		var zero Resp
		call, _ := ctx.Value(CallKey{}).(Call)
		key, err := keyOf(name, call, req)
		if err != nil {
			return zero, err
		}
		r := &run[Resp]{name: name, key: key, store: store, ttl: ttl, log: call.Log,
			claim: claim(call.Instance), lease: Lease}
		if r.log == nil {
			r.log = slog.Default()
		}
		return r.do(ctx, func(ctx context.Context) (Resp, error) { return fn(ctx, req) })
	}
}

// keyOf is the store key of a call of name: its request's key, or else the
// call's identity on the wire.
func keyOf[Req any](name string, call Call, req Req) (string, error) {
	var k string
	if r, ok := any(req).(keyer); ok {
		if v := reflect.ValueOf(r); v.Kind() != reflect.Pointer || !v.IsNil() { // a nil request has no key
			k = r.IdempotencyKey()
		}
	} else if r, ok := any(&req).(keyer); ok {
		k = r.IdempotencyKey()
	}
	if k != "" {
		k = "k:" + k
	} else if call.ID != "" {
		k = "c:" + call.ID
	} else {
		return "", rabibridge.Errorf(rabibridge.CodeInternal,
			"%s: a run-once call needs a key: the request has no IdempotencyKey and the call no identity (it did not come through a worker)", name)
	}
	if call.Scope != "" {
		k = "g:" + call.Scope + ":" + k
	}
	if len(k) > 200 {
		sum := sha256.Sum256([]byte(k))
		k = "h:" + hex.EncodeToString(sum[:])
	}
	return "rabibridge:once:" + name + ":" + k, nil
}

// claim is the record of a run under way on instance.
func claim(instance string) []byte {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return []byte("r" + instance + "/" + hex.EncodeToString(b))
}

// run is one call of a run-once function.
type run[Resp any] struct {
	name, key string
	store     once.Store
	ttl       time.Duration
	log       *slog.Logger
	claim     []byte
	lease     time.Duration // Lease when the call came: what outlives it does not read Lease
	contact   atomic.Int64  // unix ns of the store's last taking of the claim
}

// do runs fn once for r's key, or returns what the run of the key left.
func (r *run[Resp]) do(ctx context.Context, fn func(context.Context) (Resp, error)) (Resp, error) {
	var zero Resp
	pause := 20 * time.Millisecond
	for {
		held, err := r.store.Swap(ctx, r.key, nil, r.claim, r.lease)
		if err != nil {
			return zero, r.storeFailed(ctx, err)
		}
		switch {
		case held == nil:
			return r.first(ctx, fn)
		case held[0] == 'd':
			var resp Resp
			if err := wire.Msgpack.Unmarshal(held[1:], &resp); err != nil {
				return zero, rabibridge.Errorf(rabibridge.CodeInternal,
					"%s: the remembered result of %s does not decode into %T (did the response type change?): %v", r.name, r.key, resp, err)
			}
			return resp, nil
		case held[0] == 'r':
			// Under way elsewhere: wait for its result, or for its claim to lapse.
			t := time.NewTimer(pause)
			select {
			case <-ctx.Done():
				t.Stop()
				return zero, rabibridge.Errorf(rabibridge.CodeOf(ctx.Err()),
					"%s: %s is running on instance %s, and had not finished when this call ended: %v", r.name, r.key, owner(held), ctx.Err())
			case <-t.C:
			}
			pause = min(2*pause, 500*time.Millisecond)
		default:
			return zero, rabibridge.Errorf(rabibridge.CodeInternal, "%s: the store holds a record of %s that is not a run-once record", r.name, r.key)
		}
	}
}

// first runs fn under r's claim, renewing it, and records its result.
//
// The result goes back by the call's deadline whatever the store does:
// recording starts as the handler returns, and the reply waits for it only
// until replyMargin before the deadline (storeTimeout without one). A
// record the store did not take is tried again, while the claim lives,
// beside the reply: a retry of the call finds the claim and waits for it.
func (r *run[Resp]) first(ctx context.Context, fn func(context.Context) (Resp, error)) (resp Resp, err error) {
	r.contact.Store(time.Now().UnixNano())
	stop := r.renew(ctx)
	recording := false
	defer func() {
		if recording {
			return // the recorder owns the claim now
		}
		stop()
		// An error or a panic: the next call runs again.
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), storeTimeout)
		defer cancel()
		if _, err := r.store.Swap(sctx, r.key, r.claim, nil, 0); err != nil {
			r.log.Warn("run-once: cannot drop the claim of a failed run; the next call waits for it to lapse",
				"function", r.name, "key", r.key, "lapses_in", r.lease, "error", err)
		}
	}()
	resp, err = fn(ctx)
	if err != nil {
		return resp, err
	}
	b, err := wire.Msgpack.Marshal(resp)
	if err != nil {
		return resp, rabibridge.Errorf(rabibridge.CodeInternal, "%s: encoding the result to remember: %v", r.name, err)
	}
	recording = true
	recorded := make(chan struct{})
	go func() {
		defer close(recorded)
		defer stop() // the claim is renewed until the result replaces it
		r.record(context.WithoutCancel(ctx), append([]byte{'d'}, b...))
	}()
	wait := storeTimeout
	if dl, ok := ctx.Deadline(); ok {
		wait = min(wait, time.Until(dl)-replyMargin)
	}
	t := time.NewTimer(max(wait, 0))
	defer t.Stop()
	select {
	case <-recorded:
	case <-t.C:
		r.log.Warn("run-once: replying before the result is recorded (the store is slow or down); recording goes on while the claim lives",
			"function", r.name, "key", r.key)
	}
	return resp, nil
}

// recordFor is how long a result the store does not take is tried again,
// from the store's last taking of the claim: six leases, a minute by
// default.
func (r *run[Resp]) recordFor() time.Duration { return 6 * r.lease }

// replyMargin is how long before a call's deadline its reply leaves
// without waiting for the result's record: time for it to reach the caller.
const replyMargin = 250 * time.Millisecond

// record replaces r's claim with result, trying again for recordFor, so
// that a result whose record met a store outage is recorded once the
// store answers.
func (r *run[Resp]) record(ctx context.Context, result []byte) {
	pause := 100 * time.Millisecond
	for warned := false; ; {
		sctx, cancel := context.WithTimeout(ctx, storeTimeout)
		held, err := r.store.Swap(sctx, r.key, r.claim, result, r.ttl)
		if err == nil && held == nil { // the claim lapsed and no run took the key: record the result all the same
			held, err = r.store.Swap(sctx, r.key, nil, result, r.ttl)
			if err == nil && held == nil {
				held = r.claim
			}
		}
		cancel()
		switch {
		case err == nil && !bytes.Equal(held, r.claim):
			r.log.Warn("run-once: the claim lapsed while the handler ran or its result waited for the store, and another run took the key: the handler ran twice",
				"function", r.name, "key", r.key, "other", owner(held))
			return
		case err == nil:
			if warned {
				r.log.Info("run-once: the result is recorded after all", "function", r.name, "key", r.key)
			}
			return
		}
		// Past the claim's lapse, a record is still right while no other
		// run took the key (the second Swap above): it goes on for a while.
		if time.Since(time.Unix(0, r.contact.Load())) > r.recordFor() {
			r.log.Error("run-once: the handler ran, but the store did not record its result: a call with its key runs the handler again",
				"function", r.name, "key", r.key, "tried_for", r.recordFor(), "error", err)
			return
		}
		if !warned {
			r.log.Warn("run-once: the store did not take the result; trying again while the claim lives",
				"function", r.name, "key", r.key, "error", err)
			warned = true
		}
		time.Sleep(pause)
		pause = min(2*pause, time.Second)
	}
}

// renew renews r's claim every third of its lease until the returned stop is called,
// on a timer: a run shorter than that, as most are, costs no goroutine.
// stop waits for a renewal under way, so none follows it.
func (r *run[Resp]) renew(ctx context.Context) (stop func()) {
	var mu sync.Mutex
	stopped := false
	var t *time.Timer
	mu.Lock() // t is set before its function reads it
	defer mu.Unlock()
	t = time.AfterFunc(r.lease/3, func() {
		mu.Lock()
		defer mu.Unlock()
		if stopped {
			return
		}
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), r.lease/3)
		held, err := r.store.Swap(sctx, r.key, r.claim, r.claim, r.lease)
		cancel()
		if err == nil && bytes.Equal(held, r.claim) {
			r.contact.Store(time.Now().UnixNano())
		}
		if err != nil || !bytes.Equal(held, r.claim) && (len(held) == 0 || held[0] != 'd') {
			r.log.Warn("run-once: cannot renew the claim of a run under way", "function", r.name, "key", r.key, "error", err)
		}
		t.Reset(r.lease / 3)
	})
	return func() {
		t.Stop()
		mu.Lock()
		stopped = true
		mu.Unlock()
	}
}

// storeFailed is the error of a call whose key the store could not look
// up: the handler did not run.
func (r *run[Resp]) storeFailed(ctx context.Context, err error) error {
	if ctx.Err() != nil && errors.Is(err, ctx.Err()) {
		return rabibridge.Errorf(rabibridge.CodeOf(err), "%s: the call ended before the run-once store answered; the handler did not run: %v", r.name, err)
	}
	return rabibridge.Errorf(rabibridge.CodeUnavailable, "%s: the run-once store failed, so the handler did not run: %v", r.name, err)
}

// owner is the instance named in a claim.
func owner(held []byte) string {
	if len(held) > 0 && held[0] == 'd' {
		return "(finished)"
	}
	if len(held) == 0 || held[0] != 'r' {
		return "?"
	}
	s := string(held[1:])
	if i := bytes.LastIndexByte(held[1:], '/'); i >= 0 {
		s = s[:i]
	}
	if s == "" {
		return "?"
	}
	return fmt.Sprintf("%q", s)
}
