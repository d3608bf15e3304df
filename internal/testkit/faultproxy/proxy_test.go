package faultproxy_test

import (
	"bytes"
	"errors"
	"io"
	"net"
	"runtime"
	"syscall"
	"testing"
	"time"

	"github.com/matryer/is"

	"github.com/rabibridge/rabibridge/internal/testkit/faultproxy"
)

// echoServer echoes every connection until the test ends.
func echoServer(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				io.Copy(c, c)
			}()
		}
	}()
	return ln.Addr().String()
}

func dial(t *testing.T, p *faultproxy.Proxy) net.Conn {
	c, err := net.DialTimeout("tcp", p.Addr(), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// roundTrip writes msg and reads it back, within d.
func roundTrip(c net.Conn, msg []byte, d time.Duration) error {
	c.SetDeadline(time.Now().Add(d))
	defer c.SetDeadline(time.Time{})
	if _, err := c.Write(msg); err != nil {
		return err
	}
	got := make([]byte, len(msg))
	if _, err := io.ReadFull(c, got); err != nil {
		return err
	}
	if !bytes.Equal(got, msg) {
		return errors.New("echo differs")
	}
	return nil
}

func TestForwards(t *testing.T) {
	is := is.New(t)
	p := faultproxy.Start(t, echoServer(t))
	c := dial(t, p)
	is.NoErr(roundTrip(c, bytes.Repeat([]byte("x"), 1<<20), 10*time.Second))
	is.Equal(p.Accepted(), 1)
}

func TestStall(t *testing.T) {
	for _, dir := range []faultproxy.Direction{faultproxy.Up, faultproxy.Down, faultproxy.Both} {
		t.Run(map[faultproxy.Direction]string{faultproxy.Up: "up", faultproxy.Down: "down", faultproxy.Both: "both"}[dir], func(t *testing.T) {
			is := is.New(t)
			p := faultproxy.Start(t, echoServer(t))
			c := dial(t, p)
			is.NoErr(roundTrip(c, []byte("before"), 5*time.Second))
			p.Stall(dir)
			err := roundTrip(c, []byte("during"), 300*time.Millisecond)
			var ne net.Error
			is.True(errors.As(err, &ne) && ne.Timeout()) // nothing comes back, and the connection stays open
			p.Resume()
			got := make([]byte, len("during"))
			c.SetReadDeadline(time.Now().Add(5 * time.Second))
			_, err = io.ReadFull(c, got)
			is.NoErr(err)
			is.Equal(string(got), "during") // held, not lost
			is.NoErr(roundTrip(c, []byte("after"), 5*time.Second))
		})
	}
}

// TestStallBlocksWriter: a stalled path fills the sender's buffers, so its
// writes block, as a black hole's do.
func TestStallBlocksWriter(t *testing.T) {
	is := is.New(t)
	p := faultproxy.Start(t, echoServer(t))
	c := dial(t, p)
	p.Stall(faultproxy.Up)
	c.SetWriteDeadline(time.Now().Add(2 * time.Second))
	_, err := c.Write(make([]byte, 64<<20))
	var ne net.Error
	is.True(errors.As(err, &ne) && ne.Timeout())
}

func TestReset(t *testing.T) {
	is := is.New(t)
	p := faultproxy.Start(t, echoServer(t))
	c := dial(t, p)
	is.NoErr(roundTrip(c, []byte("hello"), 5*time.Second))
	p.Reset()
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, err := c.Read(make([]byte, 1))
	is.True(errors.Is(err, syscall.ECONNRESET)) // a reset, not a clean end
	is.NoErr(roundTrip(dial(t, p), []byte("new"), 5*time.Second))
}

func TestResetWhileStalled(t *testing.T) {
	is := is.New(t)
	before := runtime.NumGoroutine()
	p := faultproxy.Start(t, echoServer(t))
	c := dial(t, p)
	is.NoErr(roundTrip(c, []byte("hello"), 5*time.Second))
	p.Stall(faultproxy.Both)
	p.Reset()
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, err := c.Read(make([]byte, 1))
	is.True(err != nil)
	p.Close()
	for i := 0; i < 100 && runtime.NumGoroutine() > before+2; i++ {
		time.Sleep(20 * time.Millisecond)
	}
	is.True(runtime.NumGoroutine() <= before+2) // the echo server's accept loop and its handler
}

func TestRefuse(t *testing.T) {
	is := is.New(t)
	p := faultproxy.Start(t, echoServer(t))
	open := dial(t, p)
	p.Refuse(true)
	_, err := net.DialTimeout("tcp", p.Addr(), time.Second)
	is.True(errors.Is(err, syscall.ECONNREFUSED))
	is.NoErr(roundTrip(open, []byte("still"), 5*time.Second)) // open ones go on
	p.Refuse(false)
	is.NoErr(roundTrip(dial(t, p), []byte("again"), 5*time.Second))
}

func TestLatency(t *testing.T) {
	is := is.New(t)
	p := faultproxy.Start(t, echoServer(t))
	c := dial(t, p)
	p.SetLatency(100 * time.Millisecond)
	start := time.Now()
	is.NoErr(roundTrip(c, []byte("slow"), 5*time.Second))
	is.True(time.Since(start) >= 200*time.Millisecond) // both ways
}

func TestBandwidth(t *testing.T) {
	is := is.New(t)
	p := faultproxy.Start(t, echoServer(t))
	c := dial(t, p)
	p.SetBandwidth(1 << 20)
	start := time.Now()
	is.NoErr(roundTrip(c, make([]byte, 512<<10), 10*time.Second))
	is.True(time.Since(start) >= 400*time.Millisecond) // 512 KiB at 1 MiB/s, at least once
}
