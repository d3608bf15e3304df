// Package bufpool recycles large byte buffers: the bodies of large calls
// and replies, which would otherwise be a megabyte of garbage each, for the
// collector to find, after every call.
//
// Get is always safe: it hands out a buffer only when one is there, and a
// buffer that is never put back is collected as any other. Put is safe
// only for a buffer nothing refers to any more; its callers put back only
// the bodies a transport promised it was done with.
package bufpool

import (
	"math/bits"
	"sync"
)

// Min is the smallest buffer worth pooling; smaller ones are cheap to
// allocate and collect.
const Min = 64 << 10

// Pooled capacities are kept by their power of two, from Min to 64 MiB:
// pools[k] holds buffers of capacity 2^(minShift+k) up to twice that.
const (
	minShift = 16
	maxShift = 26
)

var pools [maxShift - minShift + 1]sync.Pool

// Get returns an empty buffer with room for n bytes from the pool, or nil
// when it has none that large: the caller then allocates as it would
// have, so a buffer that is never given back costs nothing extra.
func Get(n int) []byte {
	k, ok := class(n)
	if !ok {
		return nil
	}
	b, _ := pools[k].Get().(*[]byte)
	if b == nil || cap(*b) < n {
		return nil // none, or too small for n: left to the collector
	}
	return (*b)[:0]
}

// Put gives b back for reuse by Get; b must not be used after. Buffers
// below Min or above 128 MiB are left to the collector.
func Put(b []byte) {
	k, ok := class(cap(b))
	if !ok {
		return
	}
	// A copy of its own: taking the parameter's address would move it to
	// the heap on every call, also for the small buffers returned above.
	kept := b[:0]
	pools[k].Put(&kept)
}

// class is the pool of buffers whose capacity has the same power of two as
// n.
func class(n int) (int, bool) {
	shift := bits.Len(uint(n)) - 1
	if n < Min || shift > maxShift {
		return 0, false
	}
	return shift - minShift, true
}
