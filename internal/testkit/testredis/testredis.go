// Package testredis finds the Redis that tests of the Redis store run
// against: RABIBRIDGE_REDIS_URL, else DefaultURL.
package testredis

import (
	"context"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// DefaultURL is where the tests look for Redis when RABIBRIDGE_REDIS_URL
// is not set.
const DefaultURL = "redis://127.0.0.1:6379/0"

var (
	findOnce sync.Once
	found    string
	why      string
)

// URL returns the URL of the test Redis if it answers PING. When none
// answers the test is skipped with one line saying so, or fails when
// RABIBRIDGE_REQUIRE_REDIS=1 (as under CI).
func URL(t testing.TB) string {
	t.Helper()
	findOnce.Do(func() {
		u := os.Getenv("RABIBRIDGE_REDIS_URL")
		if u == "" {
			u = DefaultURL
		}
		opts, err := redis.ParseURL(u)
		if err == nil {
			c := redis.NewClient(opts)
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
			err = c.Ping(ctx).Err()
			cancel()
			c.Close()
		}
		if err != nil {
			why = "no Redis answers at " + u + " (" + err.Error() + "): run `make redis`, or set RABIBRIDGE_REDIS_URL"
			return
		}
		found = u
	})
	if found == "" {
		if os.Getenv("RABIBRIDGE_REQUIRE_REDIS") == "1" {
			t.Fatal(why)
		}
		t.Skip(why)
	}
	return found
}

// Client returns a client of the test Redis, closed in t.Cleanup; addr,
// when not empty, replaces the URL's address (a proxy in front of it).
func Client(t testing.TB, addr string) *redis.Client {
	t.Helper()
	opts, err := redis.ParseURL(URL(t))
	if err != nil {
		t.Fatal(err)
	}
	if addr != "" {
		opts.Addr = addr
	}
	opts.DialTimeout, opts.ReadTimeout, opts.WriteTimeout = time.Second, time.Second, time.Second
	opts.MaxRetries = -1 // a test of faults sees each failure
	c := redis.NewClient(opts)
	t.Cleanup(func() { c.Close() })
	return c
}
