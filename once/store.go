package once

import (
	"bytes"
	"context"
	"sync"
	"time"
)

// Store keeps small values under keys, each for a time: the records of
// run-once calls. Its one operation is an atomic compare-and-swap, which a
// Redis script, a SQL row or a map under a mutex can each provide. A Store
// must be safe for concurrent use. The worker never stores an empty value.
type Store interface {
	// Swap sets key to value, kept for ttl, if key holds old now (a nil old:
	// if key holds nothing, or only what has expired), and returns what key
	// held before the call, nil for nothing. A nil value deletes key. The
	// swap happened if and only if what Swap returns equals old.
	Swap(ctx context.Context, key string, old, value []byte, ttl time.Duration) (held []byte, err error)
}

// NewMemory returns a Store in this process's memory: run-once for the
// workers of one process, and for tests. Its records are gone when the
// process is; a fleet shares a store such as once/redisstore's.
func NewMemory() Store { return &memory{records: map[string]record{}} }

type memory struct {
	mu      sync.Mutex
	records map[string]record
	swept   time.Time // when expired records were last dropped
}

type record struct {
	value   []byte
	expires time.Time
}

// sweepEvery is how often a Swap drops every expired record, so that the
// records of keys never used again do not pile up.
const sweepEvery = time.Second

func (m *memory) Swap(ctx context.Context, key string, old, value []byte, ttl time.Duration) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	now := time.Now()
	m.mu.Lock()
	defer m.mu.Unlock()
	if now.Sub(m.swept) >= sweepEvery {
		for k, r := range m.records {
			if !now.Before(r.expires) {
				delete(m.records, k)
			}
		}
		m.swept = now
	}
	r, ok := m.records[key]
	if ok && !now.Before(r.expires) {
		ok = false
	}
	var held []byte
	if ok {
		held = bytes.Clone(r.value)
	}
	if !bytes.Equal(held, old) || (held == nil) != (old == nil) {
		return held, nil
	}
	if value == nil {
		delete(m.records, key)
	} else {
		m.records[key] = record{value: bytes.Clone(value), expires: now.Add(ttl)}
	}
	return held, nil
}
