package rabibridge

// Procedure declares a function once, for both sides: its name, its kind,
// and its request and response types. Declare it in a package that the
// worker and its callers both import; registering a handler of other types
// (registry.Implement) or calling it with other types (caller.NewClient)
// is then a compile error, and its name is written once.
//
//	var Add = rabibridge.Procedure[AddReq, AddResp]{Name: "add"}
//
//	registry.Implement(Add, add, registry.Options{})  // in the worker
//	sum, err := caller.NewClient(c, Add).Call(ctx, AddReq{A: 1, B: 2}) // in a caller
//
// Register and Call by name keep working, for peers in other languages and
// for tools.
type Procedure[Req, Resp any] struct {
	// Name is the function's name on the wire.
	Name string
	// Kind is RabiBridge's function kind, "async" or "sync"; empty means
	// the side's default (async for a worker, caller.Config.Kind for a
	// caller).
	Kind string
}
