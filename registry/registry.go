package registry

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"regexp"

	"github.com/rabibridge/rabibridge"
	"github.com/rabibridge/rabibridge/internal/entry"
	"github.com/rabibridge/rabibridge/internal/protocol"
	"github.com/rabibridge/rabibridge/internal/runonce"
	"github.com/rabibridge/rabibridge/internal/wire"
	"github.com/rabibridge/rabibridge/schema"
)

// Registry holds functions by name, for workers to serve. It is safe for
// concurrent use; the zero value is not, use New.
type Registry struct {
	t *entry.Table
}

func init() { entry.Of = func(r any) *entry.Table { return r.(*Registry).t } }

// New returns an empty registry.
func New() *Registry { return &Registry{t: entry.NewTable()} }

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
	if !r.t.Add(e) {
		return fmt.Errorf("%w: %s", ErrDuplicate, name)
	}
	return nil
}

// newEntry builds fn's entry: its schemas, and its decoding, invoking and
// handling, once, so that no reflection runs per call.
func newEntry[Req, Resp any](name string, fn Func[Req, Resp], opts Options) (*entry.Entry, error) {
	if opts.Once != nil {
		fn = runonce.Wrap(name, fn, opts.Once, opts.OnceTTL)
	}
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
	e := &entry.Entry{
		Function: protocol.Function{
			Name: name, Kind: string(opts.Kind), Description: opts.Description,
			QueueSize: opts.QueueSize, FetchSize: opts.FetchSize,
			TimeoutMS: opts.MaxQueueWait.Milliseconds(), Validate: opts.Validate, QueueType: string(opts.QueueType),
			OnceTTLMS: opts.OnceTTL.Milliseconds(), MaxDeliveries: opts.MaxDeliveries,
			Request: reqSchema.JSON(), Response: respSchema.JSON(),
		},
		Timeout: opts.MaxQueueWait, ReRegister: opts.ReRegister,
	}
	check := opts.Validate && reqType.Kind() != reflect.Interface // an interface's schema accepts anything
	decode := decoder[Req](name, bind, reqSchema, check)
	e.Decode = func(c wire.Codec, in wire.Request) (any, error) { return decode(c, in) }
	e.Invoke = func(ctx context.Context, req any) (any, error) {
		r, ok := req.(Req)
		if !ok {
			return nil, rabibridge.Errorf(rabibridge.CodeInternal, "%s: a middleware passed on a %T, want %T", name, req, r)
		}
		return fn(ctx, r)
	}
	e.Handle = func(ctx context.Context, c wire.Codec, in wire.Request, dst []byte) ([]byte, error) {
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

// Implement registers fn as procedure p in Default: the name, kind and
// types declared once for both sides (see rabibridge.Procedure). p's Kind,
// when set, is the function's kind; opts.Kind must then be empty or agree.
func Implement[Req, Resp any](p rabibridge.Procedure[Req, Resp], fn Func[Req, Resp], opts Options) error {
	return ImplementIn(Default, p, fn, opts)
}

// ImplementIn is Implement in r.
func ImplementIn[Req, Resp any](r *Registry, p rabibridge.Procedure[Req, Resp], fn Func[Req, Resp], opts Options) error {
	if p.Kind != "" {
		if opts.Kind != "" && string(opts.Kind) != p.Kind {
			return fmt.Errorf("registry: %s: the procedure is of kind %q and Options.Kind says %q: set one", p.Name, p.Kind, opts.Kind)
		}
		opts.Kind = Kind(p.Kind)
	}
	return RegisterIn(r, p.Name, fn, opts)
}

// Remove deletes the function registered under name, and reports whether
// there was one. A worker already serving it keeps serving it.
func (r *Registry) Remove(name string) bool { return r.t.Remove(name) }

// Functions describes every entry, sorted by name: what docgen.Markdown and
// docgen.AsyncAPI document.
func (r *Registry) Functions() []Function {
	es := r.t.Entries()
	out := make([]Function, len(es))
	for i, e := range es {
		out[i] = Function(e.Function)
	}
	return out
}
