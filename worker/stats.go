package worker

import (
	"math/bits"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rabibridge/rabibridge"
	"github.com/rabibridge/rabibridge/registry"
)

// stats count one function's calls. The hot path is atomic adds; errors,
// rarer, take a lock.
type stats struct {
	calls    atomic.Int64
	inFlight atomic.Int64
	nanos    atomic.Int64
	// buckets[k] counts handler times below 2^k µs (the last: all longer),
	// so the p99 is known within a factor of 2.
	buckets [32]atomic.Int64

	mu     sync.Mutex
	errors map[rabibridge.Code]int64
}

func (s *stats) observe(d time.Duration, code rabibridge.Code) {
	s.calls.Add(1)
	s.nanos.Add(int64(d))
	us := uint64(d / time.Microsecond)
	k := min(bits.Len64(us), len(s.buckets)-1)
	s.buckets[k].Add(1)
	if code != rabibridge.CodeOK {
		s.mu.Lock()
		if s.errors == nil {
			s.errors = map[rabibridge.Code]int64{}
		}
		s.errors[code]++
		s.mu.Unlock()
	}
}

func (s *stats) snapshot() registry.Stats {
	out := registry.Stats{Calls: s.calls.Load(), InFlight: s.inFlight.Load()}
	if out.Calls > 0 {
		out.MeanMS = float64(s.nanos.Load()) / float64(out.Calls) / 1e6
		want := (out.Calls*99 + 99) / 100
		var seen int64
		for k := range s.buckets {
			if seen += s.buckets[k].Load(); seen >= want {
				out.P99MS = float64(uint64(1)<<k) / 1000 // the bucket's upper bound
				break
			}
		}
	}
	s.mu.Lock()
	if len(s.errors) > 0 {
		out.Errors = make(map[string]int64, len(s.errors))
		for c, n := range s.errors {
			out.Errors[string(c)] = n
		}
	}
	s.mu.Unlock()
	return out
}
