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
	swaps   int // since the last sweep
}

type record struct {
	value   []byte
	expires time.Time
}

// The records of keys never used again are dropped as Redis drops them:
// every sweepEvery Swaps, one looks at sweepSample records (a map's order is
// random) and drops those expired, and looks again while more than a
// quarter were, up to sweepRounds times. A Swap costs a bounded time, never
// a pass over every record, and expired records stay a small share of all.
const (
	sweepEvery  = 8
	sweepSample = 16
	sweepRounds = 16
)

// sweep drops expired records, as the constants above say.
func (m *memory) sweep(now time.Time) {
	if m.swaps++; m.swaps < sweepEvery {
		return
	}
	m.swaps = 0
	for range sweepRounds {
		seen, expired := 0, 0
		for k, r := range m.records {
			if !now.Before(r.expires) {
				delete(m.records, k)
				expired++
			}
			if seen++; seen == sweepSample {
				break
			}
		}
		if expired*4 <= seen {
			return
		}
	}
}

func (m *memory) Swap(ctx context.Context, key string, old, value []byte, ttl time.Duration) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	now := time.Now()
	m.mu.Lock()
	defer m.mu.Unlock()
	m.sweep(now)
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
