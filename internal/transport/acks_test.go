package transport

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
)

// brokerChannel holds a channel's unacknowledged delivery tags as RabbitMQ
// does (rabbit_channel:collect_acks): an ack or nack must name a tag it
// holds, and a multiple one settles every held tag up to it. Anything else
// is the PRECONDITION_FAILED "unknown delivery tag" that closes the
// channel.
type brokerChannel struct {
	unacked []uint64 // ascending
	frames  int
	err     error
}

func (b *brokerChannel) settle(tag uint64, multiple bool) error {
	if b.err != nil {
		return b.err
	}
	b.frames++
	i, found := slices.BinarySearch(b.unacked, tag)
	switch {
	case found && !multiple:
		b.unacked = slices.Delete(b.unacked, i, i+1)
	case found:
		b.unacked = b.unacked[i+1:]
	default:
		b.err = fmt.Errorf("PRECONDITION_FAILED - unknown delivery tag %d (multiple %v)", tag, multiple)
	}
	return b.err
}

func (b *brokerChannel) Ack(tag uint64, multiple bool) error { return b.settle(tag, multiple) }
func (b *brokerChannel) Nack(tag uint64, multiple, _ bool) error {
	return b.settle(tag, multiple)
}

// The acknowledgements of calls finished in any order, some given back,
// flushed at any moment, are all accepted by the broker, and leave nothing
// unacknowledged; when calls finish in order, one frame covers many.
func TestAcksAnyOrder(t *testing.T) {
	for seed := range uint64(500) {
		r := rand.New(rand.NewPCG(seed, 1))
		b := &brokerChannel{}
		a := acks{ch: b, low: 1}
		n := 1 + r.IntN(200)
		var inFlight []uint64
		next := uint64(1)
		for next <= uint64(n) || len(inFlight) > 0 {
			// Deliver a few, up to a prefetch of 32.
			for k := r.IntN(4); k > 0 && next <= uint64(n) && len(inFlight) < 32; k-- {
				b.unacked = append(b.unacked, next)
				inFlight = append(inFlight, next)
				next++
			}
			if len(inFlight) == 0 {
				continue
			}
			// Finish one of those in flight, any of them.
			i := r.IntN(len(inFlight))
			tag := inFlight[i]
			inFlight = slices.Delete(inFlight, i, i+1)
			if r.IntN(10) == 0 {
				if err := b.Nack(tag, false, true); err != nil {
					t.Fatalf("seed %d: %v", seed, err)
				}
				a.settle(tag)
			} else {
				a.owed = append(a.owed, tag)
			}
			if r.IntN(3) == 0 {
				a.flush()
			}
			if b.err != nil {
				t.Fatalf("seed %d: %v", seed, b.err)
			}
		}
		a.flush()
		if b.err != nil {
			t.Fatalf("seed %d: %v", seed, b.err)
		}
		if len(b.unacked) != 0 {
			t.Fatalf("seed %d: tags %v never acknowledged", seed, b.unacked)
		}
	}

	// In order, flushed every 16: one frame per 16 calls.
	b := &brokerChannel{}
	a := acks{ch: b, low: 1}
	for tag := uint64(1); tag <= 64; tag++ {
		b.unacked = append(b.unacked, tag)
		a.owed = append(a.owed, tag)
		if len(a.owed) == 16 {
			a.flush()
		}
	}
	if b.err != nil || len(b.unacked) != 0 || b.frames != 4 {
		t.Fatalf("in order: err %v, unacked %v, %d frames, want 4", b.err, b.unacked, b.frames)
	}
}
