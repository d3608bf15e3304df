// Package registry holds typed handlers by name, with their options and the
// JSON Schemas of their request and response types.
//
// Handlers are registered with generics; the registry keeps a non-generic
// Entry built once from a typed closure, so no reflection runs per call
// (reflection only builds the schemas and the argument binding):
//
//	registry.Register("add", func(ctx context.Context, r AddReq) (AddResp, error) {
//		return AddResp{Sum: r.A + r.B}, nil
//	}, registry.Options{QueueSize: 10000, MaxQueueWait: 10 * time.Second, Validate: true})
//
// Register adds to [Default], the registry most programs need, like
// http.DefaultServeMux; [RegisterIn] adds to a registry made with [New].
package registry
