// Package backoff is capped exponential backoff with equal jitter, the one
// both reconnections and worker-process restarts use.
package backoff

import (
	"math/rand/v2"
	"time"
)

// Backoff hands out waits between half and all of a delay that doubles
// from Min up to Max.
type Backoff struct {
	min, max, next time.Duration
}

// New returns a Backoff from min to max; min must be positive and max at
// least min.
func New(min, max time.Duration) *Backoff {
	return &Backoff{min: min, max: max, next: min}
}

// Wait returns the next wait, and doubles the delay behind it.
func (b *Backoff) Wait() time.Duration {
	d := b.next/2 + rand.N(b.next/2+1)
	b.next = min(2*b.next, b.max)
	return d
}

// Reset starts over from min.
func (b *Backoff) Reset() { b.next = b.min }
