package bridge

import (
	"io"
	"net"
	"sync"
)

// corkConn is the network connection under amqp091-go, which writes each
// publish and each acknowledgement with a system call of its own. While
// corked, corkConn gathers those writes and sends them with one system call
// when uncorked: a worker's reply and the acknowledgement after it leave
// together, in one write and one TCP segment, so the broker reads them
// together too, and the acknowledgement is off the path of the next call.
//
// What amqp091-go writes is only gathered while a worker holds the cork,
// for the moment it takes to publish a reply and settle calls in memory;
// writes of other goroutines in that moment wait for the same system call.
type corkConn struct {
	net.Conn

	mu    sync.Mutex
	out   io.Writer // where writes go: the connection
	corks int       // holders of the cork
	buf   []byte    // gathered while corked
	err   error     // the first write error: the connection is dead
}

// corkMax is the largest write that is gathered; a larger one (a big body)
// goes out at once, after what was gathered, rather than be copied.
const corkMax = 16 << 10

func newCorkConn(c net.Conn) *corkConn { return &corkConn{Conn: c, out: c} }

// Write sends p, or gathers it while corked.
func (c *corkConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.err != nil {
		return 0, c.err
	}
	if c.corks > 0 && len(p) <= corkMax {
		c.buf = append(c.buf, p...)
		return len(p), nil
	}
	if err := c.flush(); err != nil {
		return 0, err
	}
	n, err := c.out.Write(p)
	if err != nil {
		c.fail(err)
	}
	return n, err
}

// cork starts gathering writes. Each cork needs its uncork.
func (c *corkConn) cork() {
	c.mu.Lock()
	c.corks++
	c.mu.Unlock()
}

// uncork sends what was gathered once the last holder uncorks.
func (c *corkConn) uncork() {
	c.mu.Lock()
	c.corks--
	if c.corks == 0 {
		_ = c.flush() // a failure closed the connection: amqp091-go's reader sees it
	}
	c.mu.Unlock()
}

// flush writes what was gathered; mu is held.
func (c *corkConn) flush() error {
	if len(c.buf) == 0 || c.err != nil {
		return c.err
	}
	_, err := c.out.Write(c.buf)
	if cap(c.buf) > 4*corkMax {
		c.buf = nil // a burst grew it: let it go
	} else {
		c.buf = c.buf[:0]
	}
	if err != nil {
		c.fail(err)
	}
	return err
}

// fail records a write error and closes the connection. amqp091-go took
// gathered writes as sent; closing ends its reader, so the connection is
// seen lost and replaced, and the broker requeues unacknowledged calls.
func (c *corkConn) fail(err error) {
	c.err = err
	c.Conn.Close()
}
