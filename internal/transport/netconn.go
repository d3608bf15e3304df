package transport

import (
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rabibridge/rabibridge"
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
	in      *inbound // what amqp091-go reads
	deliver directs  // the consumers whose deliveries in takes
	stall   time.Duration
	dead    atomic.Bool
	set     atomic.Int64 // the write deadline in force, Unix ns; 0: none
	hard    atomic.Int64 // a deadline amqp091-go set (a handshake, a close), Unix ns; 0: none

	readFor atomic.Int64 // how long a read may wait for bytes, ns; 0: for ever (see armRead)
	readSet atomic.Int64 // the read deadline in force, Unix ns; 0: none

	writing  atomic.Int32 // writes under way
	direct   atomic.Int32 // of them, amqp091-go's own, which hold its locks
	progress atomic.Int64 // when a write last started or moved a part, Unix ns

	// Writes while a plug is in, or while a pulled plug's writes are
	// going out, are held, and go out with them (see plug).
	wmu      sync.Mutex
	plugs    int    // plugs in
	held     []byte // written, not yet on the socket
	spare    []byte // held's other buffer
	flushing bool   // a pull is writing what is held
	flushed  sync.Cond
}

// maxHeld bounds the bytes held back: a write that would go over it is
// written at once, after what is held.
const maxHeld = writePart

const writePart = 64 << 10

// errStalled is the error of a write that made no progress for the stall
// time, and of every write after it: the connection is lost
// (rabibridge.ErrConnectionLost), the calls in it may or may not have gone
// out.
var errStalled = errors.New("the path to the broker took no bytes")

// guard wraps c; a stall of zero or less (heartbeats off) means
// defaultStall.
func guard(c net.Conn, stall time.Duration, readLimit *atomic.Int64) *guardedConn {
	if stall <= 0 {
		stall = defaultStall
	}
	g := &guardedConn{Conn: c, stall: stall}
	g.in = newInbound(socketReader{g}, readLimit)
	g.in.direct = &g.deliver
	g.flushed.L = &g.wmu
	return g
}

func (c *guardedConn) Read(p []byte) (int, error) { return c.in.Read(p) }

// socketReader reads the socket under c's inbound, with c's read deadline.
type socketReader struct{ c *guardedConn }

func (r socketReader) Read(p []byte) (int, error) {
	r.c.armRead()
	return r.c.Conn.Read(p)
}

// readWithin bounds how long a read may wait for bytes, from the next
// read on; zero or less: for ever. The bound replaces amqp091-go's, which
// it keeps only on a socket with SetReadDeadline (see openAMQP).
func (c *guardedConn) readWithin(d time.Duration) { c.readFor.Store(int64(max(d, 0))) }

// armRead makes sure a read deadline at least 15/16 of readFor away is in
// force, unless a deadline amqp091-go set is: a read gets between 15/16
// and all of readFor, and the deadline moves at most every readFor/16.
func (c *guardedConn) armRead() {
	d := c.readFor.Load()
	if d <= 0 || c.hard.Load() != 0 {
		return
	}
	now := time.Now().UnixNano()
	if c.readSet.Load()-now >= d-d/16 {
		return
	}
	dl := now + d
	c.Conn.SetReadDeadline(time.Unix(0, dl))
	c.readSet.Store(dl)
}

// defaultStall is the stall time of a connection without heartbeats.
const defaultStall = 10 * time.Second

// Write is amqp091-go's, under its connection's send lock.
func (c *guardedConn) Write(b []byte) (int, error) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if (c.plugs > 0 || c.flushing) && len(c.held)+len(b) <= maxHeld && !c.dead.Load() {
		c.held = append(c.held, b...)
		return len(b), nil
	}
	c.direct.Add(1)
	defer c.direct.Add(-1)
	for c.flushing {
		c.flushed.Wait() // as a write to a full socket would wait
	}
	if len(c.held) > 0 {
		if _, err := c.write(c.held); err != nil {
			return 0, err
		}
		c.held = c.held[:0]
	}
	return c.write(b)
}

// A plug holds back a socket's writes until it is pulled, so that frames
// written one after the other go out in one system call, and the system
// call is made outside amqp091-go's locks: a worker's reply and the
// acknowledgement of its call, which amqp091-go would send in two; calls
// published at once by several callers, which would wait for each other's
// write. Each write costs a system call here and wakes the broker to read
// it. Whoever plugs a socket must not wait for the broker before it pulls
// the plug (its request would be held back): it plugs only around frames
// that are sent without waiting for an answer, and pulls the plug before
// anything that may wait. Writes of others meanwhile are held too, and go
// out with the plug's.
type plug struct{ c *guardedConn }

// plug holds c's writes back until the plug is pulled.
func (c *guardedConn) plug() plug {
	c.wmu.Lock()
	c.plugs++
	c.wmu.Unlock()
	return plug{c}
}

// pull writes what is held, unless a pull is writing it already. It is
// safe to call twice, and on the zero plug.
func (p *plug) pull() { p.pullUntil(nil) }

// pullUntil is pull for a writer that waits only until done is closed:
// then the rest of what is held goes out from another goroutine.
func (p *plug) pullUntil(done <-chan struct{}) {
	c := p.c
	if c == nil {
		return
	}
	p.c = nil
	c.wmu.Lock()
	c.plugs--
	if c.flushing {
		c.wmu.Unlock()
		return
	}
	c.flushing = true
	c.flush(done)
}

// flush writes what is held, and what is held meanwhile, until nothing is
// or another plug is in (its pull writes the rest). wmu is held, and
// flushing set; flush clears it and unlocks wmu.
func (c *guardedConn) flush(done <-chan struct{}) {
	for len(c.held) > 0 && !c.dead.Load() {
		if isClosed(done) {
			go func() {
				c.wmu.Lock()
				c.flush(nil)
			}()
			c.wmu.Unlock()
			return
		}
		out := c.held
		c.held, c.spare = c.spare[:0], nil
		c.wmu.Unlock()
		_, err := c.write(out)
		c.wmu.Lock()
		c.spare = out[:0]
		if err != nil {
			// Their writers were told the bytes went out: the connection
			// must end, as a failed write would end it.
			c.kill()
		}
		if c.plugs > 0 {
			break
		}
	}
	c.flushing = false
	c.flushed.Broadcast()
	if cap(c.spare) > 2*maxHeld {
		c.spare = nil
	}
	c.wmu.Unlock()
}

func isClosed(done <-chan struct{}) bool {
	select {
	case <-done:
		return true
	default:
		return false
	}
}

// write writes b to the socket: one writer at a time (under wmu, or the
// pull that is flushing).
func (c *guardedConn) write(b []byte) (int, error) {
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
	return fmt.Errorf("bridge: %w: %w for %v: closing the connection", rabibridge.ErrConnectionLost, errStalled, c.stall)
}

// busy reports whether amqp091-go is writing: a publish now would wait
// behind it.
func (c *guardedConn) busy() bool { return c.direct.Load() > 0 }

// writingNow reports whether a write is under way.
func (c *guardedConn) writingNow() bool { return c.writing.Load() > 0 }

// stuck reports whether a write is under way that has moved nothing for d.
func (c *guardedConn) stuck(d time.Duration) bool {
	return c.writing.Load() > 0 && time.Now().UnixNano()-c.progress.Load() > int64(d)
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
	c.readSet.Store(0) // the read deadline was replaced, or cleared
	if t.IsZero() {
		c.hard.Store(0)
		c.set.Store(0)
		return
	}
	c.hard.Store(t.UnixNano())
	c.set.Store(t.UnixNano())
}
