// Package faultproxy is a TCP proxy for tests that puts a bad network
// between a client and a server: it stalls traffic both ways or one way
// (a black hole: the connections stay open and nothing moves), resets
// connections, refuses new ones, adds latency and limits bandwidth.
//
//	p := faultproxy.Start(t, node.Addr())
//	conn := dial(p.Addr())
//	p.Stall(faultproxy.Both) // a dead NAT entry
//	...
//	p.Resume()
package faultproxy

import (
	"errors"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Direction says which way a fault applies.
type Direction int

// The directions of traffic.
const (
	Up   Direction = 1 << iota // client to server
	Down                       // server to client
	Both = Up | Down
)

// chunk is how much a pump moves at once. Small socket buffers on the
// proxy's side make a stall fill the sender's buffers quickly, as a stalled
// path would.
const (
	chunk     = 16 << 10
	sockBuf   = 64 << 10
	queueSize = 16 // chunks held between a pump's reader and writer
)

// Proxy forwards the TCP connections it accepts to one target address.
type Proxy struct {
	t      testing.TB
	target string
	addr   string

	mu       sync.Mutex
	ln       net.Listener // nil while refusing
	stalled  Direction
	resumed  chan struct{} // closed when traffic moves again
	latency  time.Duration
	rate     int // bytes per second each way; 0: unlimited
	pairs    map[*pair]struct{}
	accepted int
	closed   bool
	wg       sync.WaitGroup // the accept loops and the pumps
}

// Start listens on a free loopback port and forwards to target; the proxy
// and every connection through it are closed in t.Cleanup.
func Start(t testing.TB, target string) *Proxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("faultproxy: %v", err)
	}
	p := &Proxy{t: t, target: target, addr: ln.Addr().String(), ln: ln, resumed: closedChan(), pairs: map[*pair]struct{}{}}
	p.wg.Add(1)
	go p.accept(ln)
	t.Cleanup(p.Close)
	return p
}

func closedChan() chan struct{} {
	ch := make(chan struct{})
	close(ch)
	return ch
}

// Addr is the proxy's address, host:port.
func (p *Proxy) Addr() string { return p.addr }

// Accepted is how many connections the proxy has accepted.
func (p *Proxy) Accepted() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.accepted
}

// Stall stops traffic in dir, on the connections open and on those to
// come, until Resume: the proxy stops reading, so the sender's buffers fill
// and its writes block, as on a path that went dark.
func (p *Proxy) Stall(dir Direction) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.stalled == 0 && dir != 0 {
		p.resumed = make(chan struct{})
	}
	p.stalled = dir
}

// Resume lets traffic move again both ways.
func (p *Proxy) Resume() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.stalled != 0 {
		close(p.resumed)
	}
	p.stalled = 0
}

// SetLatency delays every chunk of traffic by d, each way.
func (p *Proxy) SetLatency(d time.Duration) {
	p.mu.Lock()
	p.latency = d
	p.mu.Unlock()
}

// SetBandwidth limits each direction of each connection to bytesPerSec;
// zero lifts the limit.
func (p *Proxy) SetBandwidth(bytesPerSec int) {
	p.mu.Lock()
	p.rate = bytesPerSec
	p.mu.Unlock()
}

// Reset ends every open connection with a TCP reset, both sides.
func (p *Proxy) Reset() {
	p.mu.Lock()
	pairs := make([]*pair, 0, len(p.pairs))
	for pr := range p.pairs {
		pairs = append(pairs, pr)
	}
	p.mu.Unlock()
	for _, pr := range pairs {
		pr.reset()
	}
}

// Refuse makes new connections fail (connection refused) while on is
// true; open ones are untouched.
func (p *Proxy) Refuse(on bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	switch {
	case on && p.ln != nil:
		p.ln.Close()
		p.ln = nil
	case !on && p.ln == nil && !p.closed:
		ln, err := net.Listen("tcp", p.addr)
		if err != nil {
			p.t.Errorf("faultproxy: listening again on %s: %v", p.addr, err)
			return
		}
		p.ln = ln
		p.wg.Add(1)
		go p.accept(ln)
	}
}

// Close stops the proxy and resets every connection through it.
func (p *Proxy) Close() {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return
	}
	p.closed = true
	if p.ln != nil {
		p.ln.Close()
		p.ln = nil
	}
	if p.stalled != 0 {
		close(p.resumed)
		p.stalled = 0
	}
	p.mu.Unlock()
	p.Reset()
	p.wg.Wait()
}

func (p *Proxy) accept(ln net.Listener) {
	defer p.wg.Done()
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		s, err := net.DialTimeout("tcp", p.target, 10*time.Second)
		if err != nil {
			reset(c)
			continue
		}
		pr := &pair{client: c.(*net.TCPConn), server: s.(*net.TCPConn), dead: make(chan struct{})}
		for _, tc := range []*net.TCPConn{pr.client, pr.server} {
			tc.SetReadBuffer(sockBuf)
			tc.SetWriteBuffer(sockBuf)
		}
		p.mu.Lock()
		if p.closed {
			p.mu.Unlock()
			pr.reset()
			return
		}
		p.pairs[pr] = struct{}{}
		p.accepted++
		p.mu.Unlock()
		p.wg.Add(2)
		go p.pump(pr, pr.client, pr.server, Up)
		go p.pump(pr, pr.server, pr.client, Down)
	}
}

// pair is one proxied connection.
type pair struct {
	client, server *net.TCPConn
	once           sync.Once
	dead           chan struct{} // closed on reset
	ended          atomic.Int32  // directions ended
}

func (pr *pair) reset() {
	pr.once.Do(func() {
		close(pr.dead)
		reset(pr.client)
		reset(pr.server)
	})
}

// reset closes c with a TCP reset rather than a FIN.
func reset(c net.Conn) {
	if tc, ok := c.(*net.TCPConn); ok {
		tc.SetLinger(0)
	}
	c.Close()
}

type piece struct {
	b  []byte
	at time.Time // when it was read
}

// pump moves bytes from src to dst in direction dir: a reader goroutine
// takes chunks off src, and this one writes each once its latency is
// served, its bandwidth allowed and its direction not stalled.
func (p *Proxy) pump(pr *pair, src, dst *net.TCPConn, dir Direction) {
	defer p.wg.Done()
	pieces := make(chan piece, queueSize)
	var readErr error
	go func() {
		defer close(pieces)
		for p.waitMoving(pr, dir) { // a stalled direction is not read either
			b := make([]byte, chunk)
			n, err := src.Read(b)
			if n > 0 {
				select {
				case pieces <- piece{b[:n], time.Now()}:
				case <-pr.dead:
					return
				}
			}
			if err != nil {
				readErr = err
				return
			}
		}
	}()
	var writeErr error
	for pc := range pieces {
		if writeErr != nil {
			continue // drain, so the reader ends
		}
		p.mu.Lock()
		latency, rate := p.latency, p.rate
		p.mu.Unlock()
		if d := time.Until(pc.at.Add(latency)); d > 0 {
			time.Sleep(d)
		}
		if !p.waitMoving(pr, dir) {
			writeErr = net.ErrClosed
			continue
		}
		if _, writeErr = dst.Write(pc.b); writeErr != nil {
			continue
		}
		if rate > 0 {
			time.Sleep(time.Duration(len(pc.b)) * time.Second / time.Duration(rate))
		}
	}
	// Pass the end on: a clean end as a half-close, anything else as a
	// reset.
	if writeErr == nil && errors.Is(readErr, io.EOF) {
		dst.CloseWrite()
	} else {
		pr.reset()
	}
	if pr.ended.Add(1) == 2 {
		pr.client.Close()
		pr.server.Close()
		p.mu.Lock()
		delete(p.pairs, pr)
		p.mu.Unlock()
	}
}

// waitMoving waits while dir is stalled; false when pr was reset meanwhile.
func (p *Proxy) waitMoving(pr *pair, dir Direction) bool {
	for {
		p.mu.Lock()
		stalled, resumed := p.stalled&dir != 0, p.resumed
		p.mu.Unlock()
		if !stalled {
			select {
			case <-pr.dead:
				return false
			default:
				return true
			}
		}
		select {
		case <-resumed:
		case <-pr.dead:
			return false
		}
	}
}
