package registry

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"regexp"
	"sort"
	"sync"

	"github.com/rabibridge/rabibridge"
	"github.com/rabibridge/rabibridge/internal/protocol"
	"github.com/rabibridge/rabibridge/internal/wire"
	"github.com/rabibridge/rabibridge/schema"
)

// Registry holds functions by name. It is safe for concurrent use; the zero
// value is not, use New.
type Registry struct {
	mu      sync.RWMutex
	entries map[string]*Entry
}

// New returns an empty registry.
func New() *Registry { return &Registry{entries: map[string]*Entry{}} }

// Default is the registry Register adds to.
var Default = New()

// Func is the shape of a handler: it takes the call's context (which ends at
// the caller's deadline or when the worker shuts down) and the decoded
// request.
type Func[Req, Resp any] func(ctx context.Context, req Req) (Resp, error)

// Register adds the handler fn under name to Default. See RegisterIn.
func Register[Req, Resp any](name string, fn Func[Req, Resp], opts Options) error {
	return RegisterIn(Default, name, fn, opts)
}

// ErrDuplicate is wrapped by the error of a registration under a name that is
// taken.
var ErrDuplicate = errors.New("registry: name already registered")

var validName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_.\-]{0,199}$`)

// RegisterIn adds the handler fn under name to r. The name must start with a
// letter or underscore and hold only letters, digits, '_', '.' and '-' (at
// most 200 characters): it becomes part of a queue name.
//
// Req is what callers send: a struct (or map) travels as keyword arguments,
// any other type as the one positional argument. Resp is what the handler
// returns. RegisterIn builds both JSON Schemas and fails for a taken name, an
// invalid name or options, or a type that cannot be described.
func RegisterIn[Req, Resp any](r *Registry, name string, fn Func[Req, Resp], opts Options) error {
	if fn == nil {
		return fmt.Errorf("registry: %s: nil handler", name)
	}
	if !validName.MatchString(name) {
		return fmt.Errorf("registry: invalid function name %q: use letters, digits, '_', '.' and '-', starting with a letter or '_'", name)
	}
	opts, err := opts.withDefaults()
	if err != nil {
		return fmt.Errorf("registry: %s: %w", name, err)
	}
	e, err := newEntry(name, fn, opts)
	if err != nil {
		return err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, taken := r.entries[name]; taken {
		return fmt.Errorf("%w: %s", ErrDuplicate, name)
	}
	r.entries[name] = e
	return nil
}

// newEntry builds fn's entry: its schemas, and its decoding, invoking and
// handling, once, so that no reflection runs per call.
func newEntry[Req, Resp any](name string, fn Func[Req, Resp], opts Options) (*Entry, error) {
	reqType, respType := reflect.TypeFor[Req](), reflect.TypeFor[Resp]()
	bind, err := wire.NewBinder(reqType)
	if err != nil {
		return nil, fmt.Errorf("registry: %s: request: %w", name, err)
	}
	if _, err := wire.FieldNames(respType); err != nil {
		return nil, fmt.Errorf("registry: %s: response: %w", name, err)
	}
	reqSchema, err := schema.For(reqType)
	if err != nil {
		return nil, fmt.Errorf("registry: %s: request: %w", name, err)
	}
	respSchema, err := schema.For(respType)
	if err != nil {
		return nil, fmt.Errorf("registry: %s: response: %w", name, err)
	}
	e := &Entry{name: name, opts: opts, req: reqSchema, resp: respSchema}
	check := opts.Validate && reqType.Kind() != reflect.Interface // an interface's schema accepts anything
	decode := decoder[Req](name, bind, reqSchema, check)
	e.decode = func(c wire.Codec, in wire.Request) (any, error) { return decode(c, in) }
	e.invoke = func(ctx context.Context, req any) (any, error) {
		r, ok := req.(Req)
		if !ok {
			return nil, rabibridge.Errorf(rabibridge.CodeInternal, "%s: a middleware passed on a %T, want %T", name, req, r)
		}
		return fn(ctx, r)
	}
	e.handle = func(ctx context.Context, c wire.Codec, in wire.Request, dst []byte) ([]byte, error) {
		req, err := decode(c, in)
		if err != nil {
			return dst, err
		}
		resp, err := fn(ctx, req)
		if err != nil {
			return dst, err
		}
		out, err := wire.AppendReply(c, dst, resp)
		if err != nil {
			return dst, rabibridge.Errorf(rabibridge.CodeInternal, "%s: encoding the response: %v", name, err)
		}
		return out, nil
	}
	return e, nil
}

// decoder returns the decoding of name's requests, checked against
// reqSchema when check is set.
func decoder[Req any](name string, bind *wire.Binder, reqSchema *schema.Schema, check bool) func(wire.Codec, wire.Request) (Req, error) {
	reqType := reflect.TypeFor[Req]()
	return func(c wire.Codec, in wire.Request) (Req, error) {
		var req Req
		bindErr := bind.Bind(c, in, &req)
		if !check {
			if bindErr != nil {
				return req, invalid(name, bindErr)
			}
			return req, nil
		}
		sent, err := bind.Generic(c, in)
		if err != nil {
			return req, invalid(name, err)
		}
		if bindErr != nil {
			// The schema names what is wrong better than the decoder.
			if err := reqSchema.Validate(jsonValue(sent)); err != nil {
				return req, invalid(name, err)
			}
			return req, invalid(name, bindErr)
		}
		if err := validate(reqSchema, reqType, req, sent); err != nil {
			return req, invalid(name, err)
		}
		return req, nil
	}
}

func invalid(name string, err error) error {
	return &rabibridge.RemoteError{Code: rabibridge.CodeInvalidArgument, Message: name + ": " + err.Error()}
}

// Lookup returns the entry registered under name.
func (r *Registry) Lookup(name string) (*Entry, bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	e, ok := r.entries[name]
	return e, ok
}

// Entries returns every entry, sorted by name.
func (r *Registry) Entries() []*Entry {
	r.mu.RLock()
	out := make([]*Entry, 0, len(r.entries))
	for _, e := range r.entries {
		out = append(out, e)
	}
	r.mu.RUnlock()
	sort.Slice(out, func(i, j int) bool { return out[i].name < out[j].name })
	return out
}

// Remove deletes the entry registered under name, and reports whether there
// was one. A worker already serving it keeps serving it.
func (r *Registry) Remove(name string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	_, ok := r.entries[name]
	delete(r.entries, name)
	return ok
}

// Entry is a registered function: its name, options, schemas and handler.
// It is immutable.
type Entry struct {
	name      string
	opts      Options
	req, resp *schema.Schema
	handle    func(ctx context.Context, c wire.Codec, req wire.Request, dst []byte) ([]byte, error)
	decode    func(c wire.Codec, req wire.Request) (any, error)
	invoke    func(ctx context.Context, req any) (any, error)
}

// Name returns the function's name.
func (e *Entry) Name() string { return e.name }

// Options returns the function's options, with defaults filled in.
func (e *Entry) Options() Options { return e.opts }

// Request returns the JSON Schema of the request type.
func (e *Entry) Request() *schema.Schema { return e.req }

// Response returns the JSON Schema of the response type.
func (e *Entry) Response() *schema.Schema { return e.resp }

// Handle decodes req with c, validates it if the function asks for that, runs
// the handler and appends the encoded reply envelope [0, result] to dst.
// Errors from decoding or validation are *rabibridge.RemoteError with
// CodeInvalidArgument; the handler's own errors are returned as they are.
// Handle does not recover panics: the worker does.
func (e *Entry) Handle(ctx context.Context, c wire.Codec, req wire.Request, dst []byte) ([]byte, error) {
	return e.handle(ctx, c, req, dst)
}

// Decode decodes req with c into a value of the handler's request type
// (validating it if the function asks for that), for middleware to see.
// Errors are *rabibridge.RemoteError with CodeInvalidArgument.
func (e *Entry) Decode(c wire.Codec, req wire.Request) (any, error) { return e.decode(c, req) }

// Invoke runs the handler on a request Decode returned.
func (e *Entry) Invoke(ctx context.Context, req any) (any, error) { return e.invoke(ctx, req) }

// Function describes a registered function, as documents and discovery
// show it: its name, kind, options, and the JSON Schemas of its request and
// response.
type Function = protocol.Function

// The types of discovery (caller.Discover, `rabibridge list`), in which
// worker instances describe themselves.
type (
	// Instance is what a worker instance says of itself: its id, host,
	// process, version, start time, and the functions it serves.
	Instance = protocol.Instance
	// FunctionStats is a function as one instance serves it: its
	// description and its Stats.
	FunctionStats = protocol.FunctionStats
	// Stats count a function's calls on one instance since it started.
	Stats = protocol.Stats
)

// Function describes the entry.
func (e *Entry) Function() Function {
	return Function{
		Name: e.name, Kind: string(e.opts.Kind), Description: e.opts.Description,
		QueueSize: e.opts.QueueSize, FetchSize: e.opts.FetchSize,
		TimeoutMS: e.opts.Timeout.Milliseconds(), Validate: e.opts.Validate, QueueType: string(e.opts.QueueType),
		Request: e.req.JSON(), Response: e.resp.JSON(),
	}
}

// Functions describes every entry, sorted by name: what docgen.Markdown and
// docgen.AsyncAPI document.
func (r *Registry) Functions() []Function {
	es := r.Entries()
	out := make([]Function, len(es))
	for i, e := range es {
		out[i] = e.Function()
	}
	return out
}
