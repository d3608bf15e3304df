package docgen

import (
	"encoding/json"
	"fmt"
	"io"
	"net/url"
	"strings"

	"github.com/rabibridge/rabibridge/internal/protocol"
	"github.com/rabibridge/rabibridge/registry"

	"gopkg.in/yaml.v3"
)

// AsyncAPIOptions configure an AsyncAPI document.
type AsyncAPIOptions struct {
	// Title and Version describe the API; empty means "rabibridge functions"
	// and "1.0.0".
	Title, Version string
	// Description is the document's description.
	Description string
	// Server, when set, is the broker's URL, listed as the server (no
	// password is written).
	Server string
	// ContentType is the default content type; empty means
	// application/msgpack.
	ContentType string
}

const amqpBindingVersion = "0.3.0"

// AsyncAPI returns an AsyncAPI 3.0 document of fns: one channel per function
// queue with its AMQP bindings (exchange rpc, queue name and arguments), a
// receive operation per function with its reply (to the call's reply_to), and
// the payload schemas of the request and reply envelopes. Marshal it with
// WriteAsyncAPI, or encoding/json.
func AsyncAPI(fns []registry.Function, opts AsyncAPIOptions) (map[string]any, error) {
	opts = opts.withDefaults()
	doc, err := asyncapiHead(opts)
	if err != nil {
		return nil, err
	}
	d := &asyncDoc{channels: map[string]any{}, operations: map[string]any{}, messages: map[string]any{}, schemas: map[string]any{}}
	for _, f := range sorted(fns) {
		if err := d.add(f, opts.ContentType); err != nil {
			return nil, err
		}
	}
	doc["channels"] = d.channels
	doc["operations"] = d.operations
	components := map[string]any{"messages": d.messages}
	if len(d.schemas) > 0 {
		components["schemas"] = d.schemas
	}
	doc["components"] = components
	return doc, nil
}

func (o AsyncAPIOptions) withDefaults() AsyncAPIOptions {
	if o.Title == "" {
		o.Title = "rabibridge functions"
	}
	if o.Version == "" {
		o.Version = "1.0.0"
	}
	if o.ContentType == "" {
		o.ContentType = "application/msgpack"
	}
	return o
}

// asyncapiHead is the document's info and server.
func asyncapiHead(opts AsyncAPIOptions) (map[string]any, error) {
	info := map[string]any{"title": opts.Title, "version": opts.Version}
	if opts.Description != "" {
		info["description"] = opts.Description
	}
	doc := map[string]any{"asyncapi": "3.0.0", "info": info, "defaultContentType": opts.ContentType}
	if opts.Server != "" {
		u, err := url.Parse(opts.Server)
		if err != nil {
			return nil, fmt.Errorf("docgen: server URL: %w", err)
		}
		protocol := "amqp"
		if u.Scheme == "amqps" {
			protocol = "amqps"
		}
		doc["servers"] = map[string]any{"rabbitmq": map[string]any{"host": u.Host, "protocol": protocol, "protocolVersion": "0.9.1"}}
	}
	return doc, nil
}

// asyncDoc gathers the document's channels, operations, messages and
// schemas, function by function.
type asyncDoc struct {
	channels, operations, messages, schemas map[string]any
}

// add adds f: its call and reply messages, its queue's and its replies'
// channels, and the operation of receiving its calls.
func (d *asyncDoc) add(f registry.Function, contentType string) error {
	req, err := hoist(f.Request, d.schemas, f.Name)
	if err != nil {
		return fmt.Errorf("docgen: %s: request: %w", f.Name, err)
	}
	resp, err := hoist(f.Response, d.schemas, f.Name)
	if err != nil {
		return fmt.Errorf("docgen: %s: response: %w", f.Name, err)
	}
	id := msgID(f.Name)
	call, reply := id+"_call", id+"_reply"
	d.messages[call] = map[string]any{
		"name": call, "title": f.Name + ": call", "contentType": contentType,
		"summary":       "The call envelope [args, kwargs].",
		"correlationId": map[string]any{"location": "$message.header#/correlation_id", "description": "The AMQP correlation_id property."},
		"payload":       requestEnvelope(req),
	}
	d.messages[reply] = map[string]any{
		"name": reply, "title": f.Name + ": reply", "contentType": contentType,
		"summary":       "The reply envelope [0, result] or [1, message]; a failure's code is in the header x-rabibridge-code.",
		"correlationId": map[string]any{"location": "$message.header#/correlation_id", "description": "The call's correlation_id."},
		"payload":       replyEnvelope(resp),
	}
	chID := queueOf(f)
	d.channels[chID] = queueChannel(f, call)
	d.channels[reply] = map[string]any{
		"address":     nil,
		"title":       f.Name + " replies",
		"description": "The caller's reply address (its reply_to: direct reply-to or a queue of its own), through the default exchange.",
		"messages":    map[string]any{reply: ref("#/components/messages/" + reply)},
	}
	op := map[string]any{
		"action":   "receive",
		"title":    f.Name,
		"channel":  ref("#/channels/" + chID),
		"messages": []any{ref("#/channels/" + chID + "/messages/" + call)},
		"reply": map[string]any{
			"address":  map[string]any{"location": "$message.header#/reply_to", "description": "The AMQP reply_to property of the call."},
			"channel":  ref("#/channels/" + reply),
			"messages": []any{ref("#/channels/" + reply + "/messages/" + reply)},
		},
		"bindings": map[string]any{"amqp": map[string]any{"ack": true, "bindingVersion": amqpBindingVersion}},
	}
	if f.Description != "" {
		op["description"] = f.Description
	}
	d.operations[id] = op
	return nil
}

// queueChannel is the channel of f's calls: its routing key on the
// exchange, with its queue as an extension.
func queueChannel(f registry.Function, call string) map[string]any {
	args, _ := json.Marshal(queueArgsOf(f))
	var argMap map[string]any
	_ = json.Unmarshal(args, &argMap)
	return map[string]any{
		"address":     routingKeyOf(f),
		"title":       f.Name,
		"description": fmt.Sprintf("Calls of %s: routing key %s on exchange %s, queue %s.", f.Name, routingKeyOf(f), protocol.Exchange, queueOf(f)),
		"messages":    map[string]any{call: ref("#/components/messages/" + call)},
		"bindings": map[string]any{"amqp": map[string]any{
			"is":       "routingKey",
			"exchange": map[string]any{"name": protocol.Exchange, "type": protocol.ExchangeType, "durable": true, "autoDelete": false, "vhost": "/"},
			// The binding describes an exchange or a queue, not both: the
			// function's queue goes in an extension.
			"x-queue": map[string]any{"name": queueOf(f), "durable": true, "exclusive": false, "autoDelete": protocol.AutoDelete(quorum(f)),
				"vhost": "/", "arguments": argMap},
			"bindingVersion": amqpBindingVersion,
		}},
	}
}

// WriteAsyncAPI writes the document as YAML (format "yaml") or JSON.
func WriteAsyncAPI(w io.Writer, doc map[string]any, format string) error {
	if format == "json" {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(doc)
	}
	// Through JSON first, so yaml sees plain maps: keys come out sorted.
	b, err := json.Marshal(doc)
	if err != nil {
		return err
	}
	var plain map[string]any
	if err := json.Unmarshal(b, &plain); err != nil {
		return err
	}
	enc := yaml.NewEncoder(w)
	enc.SetIndent(2)
	if err := enc.Encode(plain); err != nil {
		return err
	}
	return enc.Close()
}

func ref(to string) map[string]any { return map[string]any{"$ref": to} }

// msgID turns a function name into a component key.
func msgID(name string) string { return strings.NewReplacer("-", "_").Replace(name) }

// requestEnvelope is the schema of [args, kwargs] carrying req.
func requestEnvelope(req map[string]any) map[string]any {
	if req["type"] == "object" {
		return tuple(
			map[string]any{"type": "array", "description": "Positional arguments, filling the fields in declaration order (callers in other languages)."},
			req,
		)
	}
	return tuple(
		map[string]any{"type": "array", "description": "The one positional argument.", "items": []any{req}, "maxItems": 1},
		map[string]any{"type": "object", "description": "No keyword arguments, or the one argument by name."},
	)
}

// replyEnvelope is the schema of [0, result] or [1, message].
func replyEnvelope(resp map[string]any) map[string]any {
	return map[string]any{"oneOf": []any{
		tuple(map[string]any{"const": 0}, resp),
		tuple(map[string]any{"const": 1}, map[string]any{"type": "string", "description": "What went wrong."}),
	}}
}

func tuple(a, b map[string]any) map[string]any {
	return map[string]any{"type": "array", "minItems": 2, "maxItems": 2, "items": []any{a, b}}
}

// hoist parses a JSON Schema document for use inside an AsyncAPI document:
// its $defs move to components.schemas (renamed after fn when another
// function's differ) and its references follow them; $schema goes.
func hoist(raw json.RawMessage, schemas map[string]any, fn string) (map[string]any, error) {
	var s map[string]any
	if err := json.Unmarshal(raw, &s); err != nil {
		return nil, err
	}
	delete(s, "$schema")
	renames := map[string]string{}
	defs, _ := s["$defs"].(map[string]any)
	delete(s, "$defs")
	for name, def := range defs {
		key := name
		if prev, taken := schemas[key]; taken && !sameJSON(prev, def) {
			key = msgID(fn) + "." + name
		}
		renames[name] = key
	}
	rewrite := func(v any) any { return rewriteRefs(v, renames) }
	for name, def := range defs {
		schemas[renames[name]] = rewrite(def)
	}
	return rewrite(s).(map[string]any), nil
}

func rewriteRefs(v any, renames map[string]string) any {
	switch v := v.(type) {
	case map[string]any:
		for k, x := range v {
			if k == "$ref" {
				if r, ok := x.(string); ok && strings.HasPrefix(r, "#/$defs/") {
					v[k] = "#/components/schemas/" + renames[strings.TrimPrefix(r, "#/$defs/")]
				}
				continue
			}
			v[k] = rewriteRefs(x, renames)
		}
	case []any:
		for i := range v {
			v[i] = rewriteRefs(v[i], renames)
		}
	}
	return v
}

func sameJSON(a, b any) bool {
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	return string(x) == string(y)
}
