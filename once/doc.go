// Package once holds what run-once functions (registry.Options.Once)
// remember: a Store, and NewMemory, the store of one process. The Redis
// store, for a fleet, is in once/redisstore, so that only programs that use
// it link a Redis client.
//
// A run-once function runs its handler at most once per key while the key
// is remembered: a call redelivered after its worker died, or retried by
// its caller with the same key, gets the first run's result; a call that
// comes while that run is under way waits for it. The key is what the
// request's IdempotencyKey() string method returns, when its type has one,
// or else the call's identity on the wire, which a redelivery keeps and a
// retry does not. docs/reliability.md "Run once" tells the whole story.
package once
