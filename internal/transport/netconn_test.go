package transport

import (
	"errors"
	"net"
	"sync/atomic"
	"testing"
	"time"
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
		if !errors.Is(err, errStalled) {
			t.Fatalf("write: %v, want errStalled", err)
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
