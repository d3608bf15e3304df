package bufpool

import (
	"testing"

	"github.com/matryer/is"
)

func TestGetPut(t *testing.T) {
	is := is.New(t)
	// Nothing pooled yet for this class: Get says so, and the caller
	// allocates.
	is.Equal(Get(3<<20), []byte(nil))

	b := make([]byte, 0, 3<<20+8192) // as append makes a body of 3 MiB and a head
	b = append(b, "stale"...)
	Put(b)
	// sync.Pool may drop what it holds at any collection, so reuse is not
	// promised; what is, is that a buffer handed out is empty and big
	// enough.
	if c := Get(3<<20 + 23); c != nil {
		is.Equal(len(c), 0)
		is.True(cap(c) >= 3<<20+23)
		is.Equal(&c[:1][0], &b[:1][0]) // the one put back
	}

	// A buffer of the class that is too small for n is not handed out.
	Put(make([]byte, 0, 2<<20+100))
	is.Equal(Get(3<<20+1), []byte(nil))

	// Small and huge ones are not pooled.
	Put(make([]byte, 0, Min-1))
	is.Equal(Get(Min-1), []byte(nil))
	Put(make([]byte, 0, 1<<27))
	is.Equal(Get(1<<27), []byte(nil))
}

// TestPutSmallAllocatesNothing: a buffer below Min, which every call's
// body is, goes back for nothing.
func TestPutSmallAllocatesNothing(t *testing.T) {
	b := make([]byte, 100)
	if n := testing.AllocsPerRun(100, func() { Put(b) }); n != 0 {
		t.Errorf("Put of a small buffer: %v allocations", n)
	}
}
