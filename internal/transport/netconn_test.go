package transport

import (
	"errors"
	"net"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rabibridge/rabibridge"
)

// listenSilent accepts connections and never reads from them: a peer
// whose path took no bytes.
func listenSilent(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var held []net.Conn
	t.Cleanup(func() {
		ln.Close()
		for _, c := range held {
			c.Close()
		}
	})
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			held = append(held, c)
		}
	}()
	return ln.Addr().String()
}

func TestGuardEndsStalledWrite(t *testing.T) {
	raw, err := net.Dial("tcp", listenSilent(t))
	if err != nil {
		t.Fatal(err)
	}
	g := guard(raw, 300*time.Millisecond, new(atomic.Int64))
	defer g.Close()
	done := make(chan error, 1)
	go func() {
		_, err := g.Write(make([]byte, 256<<20))
		done <- err
	}()
	select {
	case err := <-done:
		if !errors.Is(err, errStalled) || !errors.Is(err, rabibridge.ErrConnectionLost) {
			t.Fatalf("write: %v, want errStalled, a lost connection", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("a stalled write did not end")
	}
	if _, err := g.Write([]byte("x")); !errors.Is(err, errStalled) {
		t.Errorf("a write after the stall: %v, want errStalled at once", err)
	}
}

// TestGuardLeavesHandshakeDeadline: a deadline amqp091-go sets is kept
// as it is, and its timeout is not taken for a stall.
func TestGuardLeavesHandshakeDeadline(t *testing.T) {
	raw, err := net.Dial("tcp", listenSilent(t))
	if err != nil {
		t.Fatal(err)
	}
	g := guard(raw, time.Hour, new(atomic.Int64))
	defer g.Close()
	g.SetDeadline(time.Now().Add(200 * time.Millisecond))
	_, err = g.Write(make([]byte, 256<<20))
	var ne net.Error
	if !errors.As(err, &ne) || !ne.Timeout() || errors.Is(err, errStalled) {
		t.Fatalf("write past the set deadline: %v, want a plain timeout", err)
	}
	g.SetDeadline(time.Time{})
	if g.hard.Load() != 0 || g.set.Load() != 0 {
		t.Error("clearing the deadline left it set")
	}
}

// recordConn records the writes that reach the socket; while gate is
// set, each write waits for it to be closed.
type recordConn struct {
	net.Conn
	mu     sync.Mutex
	writes []string
	fail   error
	gate   chan struct{}
	in     chan struct{} // told when a write waits at the gate
}

func (c *recordConn) Write(b []byte) (int, error) {
	c.mu.Lock()
	gate := c.gate
	c.mu.Unlock()
	if gate != nil {
		c.in <- struct{}{}
		<-gate
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.fail != nil {
		return 0, c.fail
	}
	c.writes = append(c.writes, string(b))
	return len(b), nil
}

func (c *recordConn) SetWriteDeadline(time.Time) error { return nil }
func (c *recordConn) Close() error                     { return nil }

func (c *recordConn) got() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.writes...)
}

// TestPlugSendsWritesTogether: what is written while a plug is in goes
// out in one write when it is pulled, in order, with the writes of others
// meanwhile; a write too large to hold sends what is held and itself at
// once; pulling twice, or the zero plug, does nothing.
func TestPlugSendsWritesTogether(t *testing.T) {
	rc := &recordConn{}
	g := guard(rc, time.Minute, new(atomic.Int64))
	g.Write([]byte("a"))
	p := g.plug()
	g.Write([]byte("reply"))
	done := make(chan struct{})
	go func() { g.Write([]byte("+other")); close(done) }() // another writer is held too, not blocked
	<-done
	g.Write([]byte("+ack"))
	if got := rc.got(); !slices.Equal(got, []string{"a"}) {
		t.Fatalf("while plugged the socket got %q, want only the write before", got)
	}
	p.pull()
	p.pull()
	var zero plug
	zero.pull()
	if got := rc.got(); !slices.Equal(got, []string{"a", "reply+other+ack"}) {
		t.Fatalf("after the pull the socket got %q, want the held writes in one", got)
	}

	p = g.plug()
	q := g.plug()
	g.Write([]byte("x"))
	p.pull() // writes what is held, another plug in or not
	if got := rc.got(); !slices.Equal(got[2:], []string{"x"}) {
		t.Fatalf("a pull with another plug in: the socket got %q, want what was held", got[2:])
	}
	g.Write([]byte("y"))
	big := strings.Repeat("b", maxHeld)
	g.Write([]byte(big)) // over what is held: out now, after what was held
	if got := rc.got(); !slices.Equal(got[3:], []string{"y", big}) {
		t.Fatalf("a write too large to hold: the socket got %d writes, want the held one then it", len(got)-3)
	}
	q.pull()
	if n := len(rc.got()); n != 5 {
		t.Fatalf("the last pull with nothing held wrote (%d writes)", n)
	}
}

// TestPlugWritesOthersTogether: while a pull is writing, the writes of
// others return at once, held, and the pull writes them in one write after
// its own: callers publishing at once share a system call and do not wait
// for each other's.
func TestPlugWritesOthersTogether(t *testing.T) {
	rc := &recordConn{gate: make(chan struct{}), in: make(chan struct{})}
	g := guard(rc, time.Minute, new(atomic.Int64))
	p := g.plug()
	g.Write([]byte("first"))
	pulled := make(chan struct{})
	go func() { p.pull(); close(pulled) }()
	<-rc.in // the pull is writing
	for _, w := range []string{"second", "+third"} {
		q := g.plug()
		wrote := make(chan struct{})
		go func() { g.Write([]byte(w)); q.pull(); close(wrote) }()
		select {
		case <-wrote:
		case <-time.After(5 * time.Second):
			t.Fatal("a write while a pull was writing waited for it")
		}
	}
	if g.busy() {
		t.Error("busy while only a pull writes: callers would go aside")
	}
	close(rc.gate)
	go func() {
		for range rc.in {
		}
	}()
	<-pulled
	if got := rc.got(); !slices.Equal(got, []string{"first", "second+third"}) {
		t.Fatalf("the socket got %q, want the first write, then the others in one", got)
	}
}

// TestPullUntilHandsOver: a pull for a writer whose time is up returns
// without waiting for the socket, and what is held still goes out.
func TestPullUntilHandsOver(t *testing.T) {
	rc := &recordConn{gate: make(chan struct{}), in: make(chan struct{}, 1)}
	g := guard(rc, time.Minute, new(atomic.Int64))
	p := g.plug()
	g.Write([]byte("call"))
	done := make(chan struct{})
	close(done)
	returned := make(chan struct{})
	go func() { p.pullUntil(done); close(returned) }()
	select {
	case <-returned:
	case <-time.After(5 * time.Second):
		t.Fatal("the pull waited for a write that does not move")
	}
	close(rc.gate) // the socket takes bytes again
	deadline := time.Now().Add(5 * time.Second)
	for len(rc.got()) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("what was held did not go out")
		}
		time.Sleep(time.Millisecond)
	}
	if got := rc.got(); !slices.Equal(got, []string{"call"}) {
		t.Fatalf("the socket got %q", got)
	}
}

// TestPlugFailureEndsConnection: writes held by a plug were reported as
// sent, so when they cannot be sent the connection ends, as a failed
// write would end it.
func TestPlugFailureEndsConnection(t *testing.T) {
	rc := &recordConn{}
	g := guard(rc, time.Minute, new(atomic.Int64))
	p := g.plug()
	if _, err := g.Write([]byte("reply")); err != nil {
		t.Fatal(err)
	}
	rc.mu.Lock()
	rc.fail = errors.New("broken pipe")
	rc.mu.Unlock()
	p.pull()
	if !g.dead.Load() {
		t.Fatal("a held write that failed left the connection up")
	}
	if _, err := g.Write([]byte("x")); !errors.Is(err, errStalled) {
		t.Errorf("a write after: %v, want the connection's end", err)
	}
}
