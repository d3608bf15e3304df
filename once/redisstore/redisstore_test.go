package redisstore_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/rabibridge/rabibridge/internal/testkit/faultproxy"
	"github.com/rabibridge/rabibridge/internal/testkit/storetest"
	"github.com/rabibridge/rabibridge/internal/testkit/testredis"
	"github.com/rabibridge/rabibridge/once/redisstore"
)

func TestRedis(t *testing.T) {
	storetest.Run(t, redisstore.New(testredis.Client(t, "")))
}

// A Redis that refuses, is cut off or goes dark fails each Swap with an
// error that says Redis, within the client's timeouts; when it is back,
// Swaps work again.
func TestRedisFaults(t *testing.T) {
	opts, err := redis.ParseURL(testredis.URL(t))
	if err != nil {
		t.Fatal(err)
	}
	p := faultproxy.Start(t, opts.Addr)
	s := redisstore.New(testredis.Client(t, p.Addr()))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	key := "rabibridge:once:test:faults:" + time.Now().Format(time.RFC3339Nano)
	if _, err := s.Swap(ctx, key, nil, []byte("r"), time.Minute); err != nil {
		t.Fatal(err)
	}
	for _, fault := range []struct {
		name       string
		start, end func()
	}{
		{"reset and refused", func() { p.Refuse(true); p.Reset() }, func() { p.Refuse(false) }},
		{"black hole", func() { p.Stall(faultproxy.Both) }, p.Resume},
	} {
		fault.start()
		began := time.Now()
		_, err := s.Swap(ctx, key, nil, []byte("r2"), time.Minute)
		if err == nil || !strings.HasPrefix(err.Error(), "redis: ") || errors.Is(err, context.DeadlineExceeded) && ctx.Err() != nil {
			t.Errorf("%s: Swap: %v", fault.name, err)
		}
		if took := time.Since(began); took > 10*time.Second {
			t.Errorf("%s: Swap took %v to fail", fault.name, took)
		}
		fault.end()
		p.Reset() // connections stalled mid-command are of no more use
		var held []byte
		for try := 0; try < 50; try++ {
			if held, err = s.Swap(ctx, key, nil, []byte("r2"), time.Minute); err == nil {
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
		if err != nil || string(held) != "r" {
			t.Errorf("%s, then back: %q, %v", fault.name, held, err)
		}
	}
}
