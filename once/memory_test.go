package once

import (
	"context"
	"fmt"
	"testing"
	"time"
)

// The records of keys that expire are dropped, whether or not their keys
// are used again, a few at each Swap: a store of short-lived keys does not
// grow.
func TestMemorySweeps(t *testing.T) {
	m := NewMemory().(*memory)
	ctx := context.Background()
	for i := range 1000 {
		if _, err := m.Swap(ctx, fmt.Sprint(i), nil, []byte("r"), 10*time.Millisecond); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 200 { // live ones, which stay
		if _, err := m.Swap(ctx, fmt.Sprint("live", i), nil, []byte("r"), time.Hour); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(20 * time.Millisecond)
	for i := range 800 { // every few Swaps sweep a little
		if _, err := m.Swap(ctx, fmt.Sprint("new", i), nil, []byte("r"), time.Hour); err != nil {
			t.Fatal(err)
		}
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	expired := 0
	for _, r := range m.records {
		if time.Now().After(r.expires) {
			expired++
		}
	}
	if expired*4 > len(m.records) {
		t.Errorf("%d of %d records expired after 800 swaps, want at most a quarter", expired, len(m.records))
	}
}
