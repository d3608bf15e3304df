package registry

import (
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"strings"
)

// Change is one difference between two descriptions of a function (see
// Compare).
type Change struct {
	// Function is the function's name.
	Function string
	// Where is the part that changed: "function", "kind", or "request" or
	// "response" and a JSON Pointer into the value ("request /items/0/qty";
	// "/0" stands for every element of an array, "/*" for every value of a
	// map).
	Where string
	// What says what changed.
	What string
	// Breaking is true for a change that can break a caller built on the
	// old description: a function removed, its kind changed, a required
	// request field added, a request field's type changed or narrowed, a
	// response field removed or its type changed or widened.
	Breaking bool
}

// String returns the change as one line: "breaking: add: request /c: a
// required field was added".
func (c Change) String() string {
	verdict := "compatible"
	if c.Breaking {
		verdict = "breaking"
	}
	return fmt.Sprintf("%s: %s: %s: %s", verdict, c.Function, c.Where, c.What)
}

// Compare lists what changed from the functions before to the functions
// after, as their callers see it: their names, kinds and the JSON Schemas
// of their requests and responses (what Registry.Functions, discovery and
// `rabibridge schemas` give). Breaking changes come first, then by
// function and place. A CI pipeline refuses a deploy when any change is Breaking
// (`rabibridge check` exits 10).
func Compare(before, after []Function) []Change {
	now := map[string]Function{}
	for _, f := range after {
		now[f.Name] = f
	}
	var out []Change
	seen := map[string]bool{}
	for _, b := range before {
		seen[b.Name] = true
		a, ok := now[b.Name]
		if !ok {
			out = append(out, Change{b.Name, "function", "removed", true})
			continue
		}
		out = append(out, compareFunction(b, a)...)
	}
	for _, a := range after {
		if !seen[a.Name] {
			out = append(out, Change{a.Name, "function", "added", false})
		}
	}
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].Breaking != out[j].Breaking {
			return out[i].Breaking
		}
		if out[i].Function != out[j].Function {
			return out[i].Function < out[j].Function
		}
		return out[i].Where < out[j].Where
	})
	return out
}

func compareFunction(b, a Function) []Change {
	var out []Change
	if kind(b.Kind) != kind(a.Kind) {
		out = append(out, Change{b.Name, "kind", fmt.Sprintf("was %s, now %s: callers of the old kind reach no queue", kind(b.Kind), kind(a.Kind)), true})
	}
	c := &comparison{fn: b.Name, validates: a.Validate}
	c.compare("request", "", c.root(b.Request, &c.beforeDefs), c.root(a.Request, &c.afterDefs), true)
	c.compare("response", "", c.root(b.Response, &c.beforeDefs), c.root(a.Response, &c.afterDefs), false)
	return append(out, c.changes...)
}

func kind(k string) string {
	if k == "" {
		return string(Async)
	}
	return k
}

// comparison walks two schemas of one function side by side.
type comparison struct {
	fn                    string
	validates             bool // the new function checks requests against its schema
	beforeDefs, afterDefs map[string]any
	changes               []Change
	depth                 int
}

type node = map[string]any

// root parses a schema document, keeping its $defs for references.
func (c *comparison) root(raw json.RawMessage, defs *map[string]any) node {
	var n node
	if json.Unmarshal(raw, &n) != nil {
		return node{}
	}
	if d, ok := n["$defs"].(map[string]any); ok {
		*defs = d
	}
	return n
}

func (c *comparison) add(side, path, what string, breaking bool) {
	if path == "" {
		path = "/"
	}
	c.changes = append(c.changes, Change{c.fn, side + " " + path, what, breaking})
}

// resolve follows a reference, and reads a nullable anyOf [s, null] as s
// with "null" among its types.
func resolve(n node, defs map[string]any) (node, bool) {
	nullable := false
	for range 8 { // references to references, within reason
		if ref, ok := n["$ref"].(string); ok {
			d, _ := defs[strings.TrimPrefix(ref, "#/$defs/")].(map[string]any)
			n = d
			continue
		}
		if alts, ok := n["anyOf"].([]any); ok && len(alts) == 2 {
			if s, ok := nullOf(alts); ok {
				n, nullable = s, true
				continue
			}
		}
		break
	}
	return n, nullable
}

// nullOf returns s of [s, {"type":"null"}], in either order.
func nullOf(pair []any) (node, bool) {
	isNull := func(v any) bool { m, ok := v.(map[string]any); return ok && m["type"] == "null" && len(m) == 1 }
	for i, v := range pair {
		if isNull(v) {
			s, ok := pair[1-i].(map[string]any)
			return s, ok
		}
	}
	return nil, false
}

// types returns the JSON types a schema admits; nil means any.
func types(n node, nullable bool) []string {
	var ts []string
	switch t := n["type"].(type) {
	case string:
		ts = []string{t}
	case []any:
		for _, v := range t {
			if s, ok := v.(string); ok {
				ts = append(ts, s)
			}
		}
	default:
		if _, ok := n["properties"]; ok {
			ts = []string{"object"}
		} else {
			return nil
		}
	}
	if nullable && !slices.Contains(ts, "null") {
		ts = append(ts, "null")
	}
	sort.Strings(ts)
	return ts
}

// covers reports whether the types wide admit every value of narrow; nil
// admits anything.
func covers(wide, narrow []string) bool {
	if wide == nil {
		return true
	}
	if narrow == nil {
		return false
	}
	for _, t := range narrow {
		if !slices.Contains(wide, t) && !(t == "integer" && slices.Contains(wide, "number")) {
			return false
		}
	}
	return true
}

// compare compares before and after at path of side; request is true for
// the request, whose values callers write (the new schema must take all
// the old took), false for the response, which callers read (the new must
// give nothing the old did not).
func (c *comparison) compare(side, path string, before, after node, request bool) {
	if c.depth > 32 {
		return // a recursive type: what lies deeper was compared above
	}
	c.depth++
	defer func() { c.depth-- }()
	b, bNull := resolve(before, c.beforeDefs)
	a, aNull := resolve(after, c.afterDefs)
	tb, ta := types(b, bNull), types(a, aNull)
	wider, narrower := covers(ta, tb), covers(tb, ta)
	switch {
	case wider && narrower:
	case request && !wider, !request && !narrower:
		c.add(side, path, fmt.Sprintf("the type was %s, now %s", typeText(tb), typeText(ta)), true)
		return
	default:
		c.add(side, path, fmt.Sprintf("the type was %s, now %s", typeText(tb), typeText(ta)), false)
	}
	if request {
		c.constraints(side, path, b, a)
	}
	c.properties(side, path, b, a, request)
	if bi, ok := b["items"].(map[string]any); ok {
		if ai, ok := a["items"].(map[string]any); ok {
			c.compare(side, path+"/0", bi, ai, request)
		}
	}
	if bm, ok := b["additionalProperties"].(map[string]any); ok {
		if am, ok := a["additionalProperties"].(map[string]any); ok {
			c.compare(side, path+"/*", bm, am, request)
		}
	}
}

func typeText(ts []string) string {
	if ts == nil {
		return "any"
	}
	return strings.Join(ts, " or ")
}

// properties compares the fields of two object schemas.
func (c *comparison) properties(side, path string, b, a node, request bool) {
	bp, _ := b["properties"].(map[string]any)
	ap, _ := a["properties"].(map[string]any)
	if bp == nil && ap == nil {
		return
	}
	breq, areq := names(b["required"]), names(a["required"])
	for _, name := range sortedKeys(bp) {
		p := path + "/" + name
		av, ok := ap[name].(map[string]any)
		switch {
		case !ok && request:
			c.add(side, p, "the field was removed: a caller that sends it is refused", c.validates)
		case !ok:
			c.add(side, p, "the field was removed", true)
		default:
			switch {
			case request && !breq[name] && areq[name]:
				c.add(side, p, "the field became required", true)
			case request && breq[name] && !areq[name]:
				c.add(side, p, "the field became optional", false)
			case !request && breq[name] && !areq[name]:
				c.add(side, p, "the field may now be missing", true)
			}
			bv, _ := bp[name].(map[string]any)
			c.compare(side, p, bv, av, request)
		}
	}
	for _, name := range sortedKeys(ap) {
		if _, ok := bp[name]; ok {
			continue
		}
		p := path + "/" + name
		switch {
		case request && areq[name]:
			c.add(side, p, "a required field was added", true)
		default:
			c.add(side, p, "a field was added", false)
		}
	}
}

// constraints compares what a request's value must satisfy.
func (c *comparison) constraints(side, path string, b, a node) {
	bound := func(key string, tighterIfGreater bool) {
		bv, bok := b[key].(float64)
		av, aok := a[key].(float64)
		switch {
		case bok && aok && bv == av, !bok && !aok:
		case !bok:
			c.add(side, path, fmt.Sprintf("%s %v was added", key, av), true)
		case !aok:
			c.add(side, path, fmt.Sprintf("%s %v was dropped", key, bv), false)
		default:
			tighter := av > bv == tighterIfGreater
			c.add(side, path, fmt.Sprintf("%s was %v, now %v", key, bv, av), tighter)
		}
	}
	for _, k := range []string{"minimum", "exclusiveMinimum", "minLength", "minItems", "minProperties"} {
		bound(k, true)
	}
	for _, k := range []string{"maximum", "exclusiveMaximum", "maxLength", "maxItems", "maxProperties"} {
		bound(k, false)
	}
	if bm, am := b["multipleOf"], a["multipleOf"]; bm != am {
		c.add(side, path, fmt.Sprintf("multipleOf was %v, now %v", orNone(bm), orNone(am)), am != nil)
	}
	if bp, ap := b["pattern"], a["pattern"]; bp != ap {
		c.add(side, path, fmt.Sprintf("the pattern was %v, now %v", orNone(bp), orNone(ap)), ap != nil)
	}
	be, _ := b["enum"].([]any)
	ae, _ := a["enum"].([]any)
	if len(be) > 0 || len(ae) > 0 {
		for _, v := range be {
			if len(ae) > 0 && !slices.ContainsFunc(ae, func(x any) bool { return fmt.Sprint(x) == fmt.Sprint(v) }) {
				c.add(side, path, fmt.Sprintf("the value %v is no longer allowed", v), true)
			}
		}
		if len(be) == 0 {
			c.add(side, path, "an enum was added", true)
		}
	}
}

func orNone(v any) any {
	if v == nil {
		return "none"
	}
	return v
}

func names(v any) map[string]bool {
	out := map[string]bool{}
	list, _ := v.([]any)
	for _, n := range list {
		if s, ok := n.(string); ok {
			out[s] = true
		}
	}
	return out
}

func sortedKeys(m map[string]any) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
