// Package redisstore is a once.Store on Redis, for run-once functions
// (registry.Options.Once) served by a fleet of workers: every worker that
// serves a function shares its records through one Redis. It is a package
// of its own so that only programs that use it link a Redis client.
//
// Each record is one Redis string under the worker's key
// ("rabibridge:once:<function>:…"), with a TTL; a Swap is one Lua script,
// atomic on the server. Use a Redis (or a database of one) per deployment:
// two deployments that share one share the records of functions of the
// same name. A Redis that is down or cut off fails each run-once call with
// CodeUnavailable, and the handler does not run; give the client timeouts
// shorter than the calls' (go-redis's default ReadTimeout is 3 s).
package redisstore

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/rabibridge/rabibridge/once"
)

// New returns a once.Store that keeps its records in Redis through client:
// a *redis.Client, *redis.ClusterClient or *redis.Ring.
func New(client redis.Scripter) once.Store { return store{client} }

type store struct{ c redis.Scripter }

// swap is Store.Swap. ARGV: whether there is an old value, the old value,
// whether there is a new value, the new value, its TTL in milliseconds. A
// missing key reads as false, which Redis returns as nil.
var swap = redis.NewScript(`
local held = redis.call('GET', KEYS[1])
local match
if ARGV[1] == '0' then match = (held == false) else match = (held == ARGV[2]) end
if match then
  if ARGV[3] == '0' then
    redis.call('DEL', KEYS[1])
  else
    redis.call('SET', KEYS[1], ARGV[4], 'PX', ARGV[5])
  end
end
return held
`)

func (s store) Swap(ctx context.Context, key string, old, value []byte, ttl time.Duration) ([]byte, error) {
	ms := max(ttl.Milliseconds(), 1)
	held, err := swap.Run(ctx, s.c, []string{key}, flag(old), old, flag(value), value, ms).Text()
	switch {
	case errors.Is(err, redis.Nil):
		return nil, nil
	case err != nil:
		return nil, fmt.Errorf("redis: %w", err)
	}
	return []byte(held), nil
}

func flag(b []byte) string {
	if b == nil {
		return "0"
	}
	return "1"
}
