package transport

import (
	"errors"
	"fmt"
	"net"
	"sync/atomic"
	"time"
)

// guardedConn is a connection's socket under amqp091-go. Every write has a
// deadline: a path that takes no bytes for stall (a black hole: a dead NAT
// entry, a stalled link) fails the write, which ends the connection. Without
// it, amqp091-go holds its channel and connection locks through the blocked
// write, and every publish, ack and close behind them waits for as long as
// the stall lasts; heartbeats notice a dead peer only on the read side.
//
// Writes go out in parts of at most writePart bytes, so that the deadline
// measures progress: a large body on a slow but live link is not cut.
type guardedConn struct {
	net.Conn
	in    *inbound // what amqp091-go reads
	stall time.Duration
	dead  atomic.Bool
	set   atomic.Int64 // the write deadline in force, Unix ns; 0: none
	hard  atomic.Int64 // a deadline amqp091-go set (a handshake, a close), Unix ns; 0: none

	writing  atomic.Int32 // writes under way
	progress atomic.Int64 // when a write last started or moved a part, Unix ns
}

const writePart = 64 << 10

// errStalled is the error of a write that made no progress for the stall
// time, and of every write after it.
var errStalled = errors.New("the path to the broker took no bytes")

// guard wraps c; a stall of zero or less (heartbeats off) means
// defaultStall.
func guard(c net.Conn, stall time.Duration, readLimit *atomic.Int64) *guardedConn {
	if stall <= 0 {
		stall = defaultStall
	}
	return &guardedConn{Conn: c, in: newInbound(c, readLimit), stall: stall}
}

func (c *guardedConn) Read(p []byte) (int, error) { return c.in.Read(p) }

// defaultStall is the stall time of a connection without heartbeats.
const defaultStall = 10 * time.Second

func (c *guardedConn) Write(b []byte) (int, error) {
	c.writing.Add(1)
	defer c.writing.Add(-1)
	c.progress.Store(time.Now().UnixNano())
	n := 0
	for len(b) > 0 {
		if c.dead.Load() {
			return n, c.stalledErr()
		}
		c.arm()
		m, err := c.Conn.Write(b[:min(len(b), writePart)])
		n += m
		b = b[m:]
		if len(b) > 0 {
			c.progress.Store(time.Now().UnixNano())
		}
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() && c.hard.Load() == 0 {
				c.kill()
				return n, c.stalledErr()
			}
			return n, err
		}
	}
	return n, nil
}

// arm makes sure a write deadline at least stall/2 away is in force, so
// that one write of a part gets between stall/2 and stall; it moves the
// deadline only that often, not on every write, which costs a lone caller
// measurably (docs/benchmarks.md, "Measured and kept").
func (c *guardedConn) arm() {
	now := time.Now().UnixNano()
	if h := c.hard.Load(); h != 0 {
		if c.set.Load() != h {
			c.Conn.SetWriteDeadline(time.Unix(0, h))
			c.set.Store(h)
		}
		return
	}
	if set := c.set.Load(); set-now >= int64(c.stall/2) {
		return
	}
	dl := now + int64(c.stall)
	c.Conn.SetWriteDeadline(time.Unix(0, dl))
	c.set.Store(dl)
}

func (c *guardedConn) stalledErr() error {
	return fmt.Errorf("bridge: %w for %v: closing the connection", errStalled, c.stall)
}

// busy reports whether a write is under way: a publish now would wait
// behind it.
func (c *guardedConn) busy() bool { return c.writing.Load() > 0 }

// stuck reports whether a write is under way that has moved nothing for d.
func (c *guardedConn) stuck(d time.Duration) bool {
	return c.busy() && time.Now().UnixNano()-c.progress.Load() > int64(d)
}

// kill closes the socket at once, whatever amqp091-go is waiting for:
// blocked writes and reads return.
func (c *guardedConn) kill() {
	c.dead.Store(true)
	c.Conn.Close()
}

// SetDeadline and SetWriteDeadline take amqp091-go's own deadlines (the
// handshake's, a close's) over the stall guard's until they are cleared.
func (c *guardedConn) SetDeadline(t time.Time) error {
	c.setHard(t)
	return c.Conn.SetDeadline(t)
}

func (c *guardedConn) SetWriteDeadline(t time.Time) error {
	c.setHard(t)
	return c.Conn.SetWriteDeadline(t)
}

func (c *guardedConn) setHard(t time.Time) {
	if t.IsZero() {
		c.hard.Store(0)
		c.set.Store(0)
		return
	}
	c.hard.Store(t.UnixNano())
	c.set.Store(t.UnixNano())
}
