// Package testbroker finds the RabbitMQ that tests run against, and starts
// RabbitMQ nodes of their own for tests that stop, restart or reconfigure a
// broker.
package testbroker

import (
	"net"
	"net/url"
	"os"
	"sync"
	"testing"
	"time"
)

// DefaultURL is where the tests look for a broker when RABIBRIDGE_URL is
// not set.
const DefaultURL = "amqp://guest:guest@127.0.0.1:5672/"

var (
	findOnce sync.Once
	found    string
	why      string
)

// URL returns the URL of the shared test broker: RABIBRIDGE_URL, else
// DefaultURL, if it answers. When none answers the test is skipped with one
// line saying so, or fails when RABIBRIDGE_REQUIRE_BROKER=1 (as under CI).
func URL(t testing.TB) string {
	t.Helper()
	findOnce.Do(func() {
		u := os.Getenv("RABIBRIDGE_URL")
		if u == "" {
			u = DefaultURL
		}
		if err := answers(u); err != nil {
			why = "no RabbitMQ answers at " + redact(u) + " (" + err.Error() + "): run `make broker`, or set RABIBRIDGE_URL"
			return
		}
		found = u
	})
	if found == "" {
		Require(t, why)
	}
	return found
}

// Require skips the test with reason, or fails it when
// RABIBRIDGE_REQUIRE_BROKER=1.
func Require(t testing.TB, reason string) {
	t.Helper()
	if os.Getenv("RABIBRIDGE_REQUIRE_BROKER") == "1" {
		t.Fatal(reason)
	}
	t.Skip(reason)
}

// answers reports whether something accepts TCP connections at u's host.
func answers(u string) error {
	p, err := url.Parse(u)
	if err != nil {
		return err
	}
	host := p.Host
	if p.Port() == "" {
		port := "5672"
		if p.Scheme == "amqps" {
			port = "5671"
		}
		host = net.JoinHostPort(p.Hostname(), port)
	}
	c, err := net.DialTimeout("tcp", host, 3*time.Second)
	if err != nil {
		return err
	}
	return c.Close()
}

func redact(u string) string {
	p, err := url.Parse(u)
	if err != nil {
		return "(unparsable URL)"
	}
	return p.Redacted()
}
