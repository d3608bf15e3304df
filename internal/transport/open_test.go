package transport

import (
	"context"
	"errors"
	"net"
	"net/url"
	"strings"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/rabibridge/rabibridge/internal/testkit/faultproxy"
	"github.com/rabibridge/rabibridge/internal/testkit/testbroker"
)

// TestSocketHasNoReadDeadline: amqp091-go wakes its heartbeat goroutine for
// every frame it reads from a socket with SetReadDeadline; the socket it
// gets must not have one (the guarded socket moves its own deadline).
func TestSocketHasNoReadDeadline(t *testing.T) {
	if _, ok := any(socket{}).(interface{ SetReadDeadline(time.Time) error }); ok {
		t.Error("amqp091-go's socket has SetReadDeadline: its reader would wake the heartbeat goroutine per frame")
	}
}

// dialStates dials url with heartbeat hb and reports the connection's
// states on the channel it returns.
func dialStates(t *testing.T, rawURL string, hb time.Duration) (*Conn, <-chan string) {
	t.Helper()
	states := make(chan string, 64)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := Dial(ctx, Config{URLs: []string{rawURL}, Heartbeat: hb, ReconnectMin: time.Hour, ReconnectMax: time.Hour,
		OnStateChange: func(s string, _ error) {
			select {
			case states <- s:
			default:
			}
		}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c, states
}

// withQuery returns url with q added to its query.
func withQuery(url, q string) string {
	if strings.Contains(url, "?") {
		return url + "&" + q
	}
	return url + "?" + q
}

func liveConn(c *Conn) *amqp.Connection { return c.t.(*amqpTransport).live.Load() }

// TestReadBoundedByHeartbeats: with heartbeats of 1 s, an idle connection
// stays up on the broker's heartbeats alone, and one whose path from the
// broker goes silent ends within three of them (1.5 s), as amqp091-go's
// own read deadline would end it.
func TestReadBoundedByHeartbeats(t *testing.T) {
	u, err := url.Parse(testbroker.URL(t))
	if err != nil {
		t.Fatal(err)
	}
	p := faultproxy.Start(t, u.Host)
	u.Host = p.Addr()
	c, states := dialStates(t, u.String(), time.Second)
	if <-states != StateConnected {
		t.Fatal("not connected first")
	}
	if got := liveConn(c).Config.Heartbeat; got != time.Second {
		t.Fatalf("negotiated heartbeat %v, want 1s", got)
	}

	select {
	case s := <-states:
		t.Fatalf("an idle connection went %q", s)
	case <-time.After(4 * time.Second): // past the 1.5 s bound: the broker's heartbeats moved it
	}

	p.Stall(faultproxy.Down) // our heartbeats still reach the broker: only a read can tell
	start := time.Now()
	select {
	case s := <-states:
		took := time.Since(start)
		if s != StateDisconnected {
			t.Fatalf("went %q", s)
		}
		t.Logf("silent path noticed after %v", took.Round(time.Millisecond))
	case <-time.After(5 * time.Second):
		t.Fatal("a path silent from the broker was not noticed within 5 s (bound: 1.5 s)")
	}
}

// TestOpenTakesTheURL: what DialConfig takes from the URL, openAMQP takes
// too: the heartbeat over the config's, and the auth mechanism.
func TestOpenTakesTheURL(t *testing.T) {
	u := testbroker.URL(t)
	c, _ := dialStates(t, withQuery(u, "heartbeat=3&auth_mechanism=amqplain"), 7*time.Second)
	if got := liveConn(c).Config.Heartbeat; got != 3*time.Second {
		t.Errorf("heartbeat %v, want the URL's 3s", got)
	}
	c2, _ := dialStates(t, u, 7*time.Second)
	if got := liveConn(c2).Config.Heartbeat; got != 7*time.Second {
		t.Errorf("heartbeat %v, want the config's 7s", got)
	}
	if _, err := saslOf(amqp.URI{AuthMechanism: []string{"gssapi"}}); err == nil {
		t.Error("an unknown auth_mechanism was taken")
	}
	if got, _ := saslOf(amqp.URI{AuthMechanism: []string{"EXTERNAL", "plain"}}); len(got) != 2 ||
		got[0].Mechanism() != "EXTERNAL" || got[1].Mechanism() != "PLAIN" {
		t.Errorf("auth mechanisms: %v", got)
	}
}

// TestOpenFailureClosesSocket: a handshake that fails on the client's side
// (the broker offers no mechanism the URL allows) closes the socket, which
// amqp091-go leaves open.
func TestOpenFailureClosesSocket(t *testing.T) {
	u := testbroker.URL(t)
	var raw net.Conn
	dial := func(network, addr string) (net.Conn, error) {
		c, err := net.Dial(network, addr)
		raw = c
		return c, err
	}
	_, err := openAMQP(withQuery(u, "auth_mechanism=external"), amqp.Config{Dial: dial})
	if !errors.Is(err, amqp.ErrSASL) {
		t.Fatalf("want amqp.ErrSASL, got %v", err)
	}
	raw.SetReadDeadline(time.Now().Add(2 * time.Second)) // the broker would close it itself, 10 s on
	if _, err := raw.Read(make([]byte, 1)); !errors.Is(err, net.ErrClosed) {
		t.Errorf("the socket of a failed handshake: read %v, want it closed", err)
	}
}
