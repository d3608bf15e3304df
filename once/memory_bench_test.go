package once

import (
	"context"
	"fmt"
	"testing"
	"time"
)

// BenchmarkMemorySwap is one claim on the memory store, which holds n other
// records.
func BenchmarkMemorySwap(b *testing.B) {
	for _, n := range []int{10, 100_000} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			m := NewMemory()
			ctx := context.Background()
			for i := range n {
				m.Swap(ctx, fmt.Sprint(i), nil, []byte("r"), time.Hour)
			}
			for b.Loop() {
				m.Swap(ctx, "k", nil, []byte("r"), time.Hour)
			}
		})
	}
}
