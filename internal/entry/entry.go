// Package entry holds registered functions as workers serve them:
// registry.Registry is a Table, and each registration makes an Entry whose
// handler was built once, by the registry's generic code, for its types.
package entry

import (
	"context"
	"sort"
	"sync"
	"time"

	"github.com/rabibridge/rabibridge/internal/protocol"
	"github.com/rabibridge/rabibridge/internal/wire"
)

// Entry is a registered function. It is immutable.
type Entry struct {
	// Function describes it: name, kind, options (defaults filled in) and
	// the JSON Schemas of its request and response.
	Function protocol.Function
	// Timeout is the queue's message TTL (Function.TimeoutMS); zero for none.
	Timeout time.Duration
	// ReRegister: the queue is deleted and declared anew when a worker
	// starts.
	ReRegister bool
	// Handle decodes req with c, validates it if the function asks for
	// that, runs the handler and appends the encoded reply envelope
	// [0, result] to dst. Errors from decoding or validation are
	// *rabibridge.RemoteError with CodeInvalidArgument; the handler's own
	// errors are returned as they are. Handle does not recover panics: the
	// worker does.
	Handle func(ctx context.Context, c wire.Codec, req wire.Request, dst []byte) ([]byte, error)
	// Decode decodes req with c into a value of the handler's request type
	// (validating it if the function asks for that), for middleware to
	// see; Invoke runs the handler on such a value.
	Decode func(c wire.Codec, req wire.Request) (any, error)
	Invoke func(ctx context.Context, req any) (any, error)
}

// Name returns the function's name.
func (e *Entry) Name() string { return e.Function.Name }

// Of returns the table of a *registry.Registry, whose field holding it is
// unexported: registry sets it, so that workers reach the entries while
// the public type shows none of them.
var Of func(r any) *Table

// Table holds entries by name. It is safe for concurrent use; make one with
// NewTable.
type Table struct {
	mu      sync.RWMutex
	entries map[string]*Entry
}

// NewTable returns an empty table.
func NewTable() *Table { return &Table{entries: map[string]*Entry{}} }

// Add adds e, unless its name is taken; it reports whether it did.
func (t *Table) Add(e *Entry) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if _, taken := t.entries[e.Name()]; taken {
		return false
	}
	t.entries[e.Name()] = e
	return true
}

// Lookup returns the entry of name.
func (t *Table) Lookup(name string) (*Entry, bool) {
	t.mu.RLock()
	defer t.mu.RUnlock()
	e, ok := t.entries[name]
	return e, ok
}

// Entries returns every entry, sorted by name.
func (t *Table) Entries() []*Entry {
	t.mu.RLock()
	out := make([]*Entry, 0, len(t.entries))
	for _, e := range t.entries {
		out = append(out, e)
	}
	t.mu.RUnlock()
	sort.Slice(out, func(i, j int) bool { return out[i].Name() < out[j].Name() })
	return out
}

// Remove deletes the entry of name, and reports whether there was one.
func (t *Table) Remove(name string) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	_, ok := t.entries[name]
	delete(t.entries, name)
	return ok
}
