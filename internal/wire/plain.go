package wire

import (
	"math"
	"reflect"
	"strings"
	"sync"
)

// Plain values: the msgpack codec encodes them itself, with a plan built
// once per type, instead of through msgpack v5's reflection per call (it
// decodes every type itself: decode.go). A plain type is bool, an integer
// kind, float32, float64, string, or a struct whose fields are all plain,
// whose tags give at most a name and omitempty, and which has no embedded
// fields and, like every named type in it, no methods (so no custom
// encoding can apply to it). Their bytes are the same as msgpack v5's;
// tests hold the two to each other.
//
// A type given an encoder with msgpack.Register must have a method, or the
// plan encodes it as a plain type.

// plan says how values of one plain type are encoded and decoded.
type plan struct {
	kind   reflect.Kind
	fields []planField // of a struct, in declaration order
	head   []byte      // a struct's map head when no field omits itself
	omits  bool        // some field has omitempty
}

type planField struct {
	index     int
	key       []byte // the encoded name
	name      string
	omitEmpty bool
	p         *plan
}

// plans holds a *plan, or nil for a type that is not plain, by type.
var plans sync.Map

// planOf returns the plan of t, or nil when t is not plain.
func planOf(t reflect.Type) *plan {
	if t == nil {
		return nil
	}
	if p, ok := plans.Load(t); ok {
		return p.(*plan)
	}
	p := buildPlan(t, 0)
	plans.Store(t, p)
	return p
}

func buildPlan(t reflect.Type, depth int) *plan {
	// Deeper nests are rare enough to leave to msgpack v5.
	if depth > 8 || reflect.PointerTo(t).NumMethod() > 0 {
		return nil
	}
	switch k := t.Kind(); k {
	case reflect.Bool, reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64,
		reflect.Float32, reflect.Float64, reflect.String:
		return &plan{kind: k}
	case reflect.Struct:
		return buildStructPlan(t, depth)
	}
	return nil
}

func buildStructPlan(t reflect.Type, depth int) *plan {
	p := &plan{kind: reflect.Struct}
	seen := map[string]bool{}
	for i := range t.NumField() {
		f := t.Field(i)
		if f.Anonymous || f.Name == "_msgpack" {
			return nil // inlining and struct-wide options: msgpack v5's own rules
		}
		tag := f.Tag.Get("msgpack")
		if tag == "" {
			tag = f.Tag.Get("json")
		}
		if strings.ContainsAny(tag, `:'\( `) {
			return nil // tagparser's quoting and key:value options
		}
		name, opts, _ := strings.Cut(tag, ",")
		if name == "-" {
			continue
		}
		if !f.IsExported() {
			continue
		}
		if opts != "" && opts != "omitempty" {
			return nil
		}
		fp := buildPlan(f.Type, depth+1)
		if fp == nil {
			return nil
		}
		omit := opts == "omitempty"
		if omit && fp.kind == reflect.Struct {
			return nil // a struct is empty by its own fields' omitempty
		}
		if name == "" {
			name = f.Name
		}
		if seen[name] {
			return nil // msgpack v5 writes both and reads into the last
		}
		seen[name] = true
		p.fields = append(p.fields, planField{index: i, key: appendString(nil, name), name: name, omitEmpty: omit, p: fp})
		p.omits = p.omits || omit
	}
	p.head = appendHead(nil, mapForm, len(p.fields))
	return p
}

// append appends the msgpack encoding of v, of plan p, to dst.
func (p *plan) append(dst []byte, v reflect.Value) []byte {
	switch p.kind {
	case reflect.Bool:
		if v.Bool() {
			return append(dst, 0xc3)
		}
		return append(dst, 0xc2)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return appendCompactInt(dst, v.Int())
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return appendCompactUint(dst, v.Uint())
	case reflect.Float32:
		b := math.Float32bits(float32(v.Float()))
		return append(dst, 0xca, byte(b>>24), byte(b>>16), byte(b>>8), byte(b))
	case reflect.Float64:
		return appendBig(append(dst, 0xcb), math.Float64bits(v.Float()), 8)
	case reflect.String:
		return appendString(dst, v.String())
	}
	if !p.omits {
		dst = append(dst, p.head...)
	} else {
		n := 0
		for i := range p.fields {
			if f := &p.fields[i]; !f.omitEmpty || !f.p.empty(v.Field(f.index)) {
				n++
			}
		}
		dst = appendHead(dst, mapForm, n)
	}
	for i := range p.fields {
		f := &p.fields[i]
		fv := v.Field(f.index)
		if f.omitEmpty && f.p.empty(fv) {
			continue
		}
		dst = f.p.append(append(dst, f.key...), fv)
	}
	return dst
}

// empty reports whether omitempty leaves v out, as msgpack v5 decides it
// (-0.0 is empty too). Struct fields never have omitempty here.
func (p *plan) empty(v reflect.Value) bool {
	switch p.kind {
	case reflect.Bool:
		return !v.Bool()
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return v.Int() == 0
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return v.Uint() == 0
	case reflect.Float32, reflect.Float64:
		return v.Float() == 0
	case reflect.String:
		return v.Len() == 0
	}
	return false
}

func appendCompactUint(dst []byte, n uint64) []byte {
	switch {
	case n <= math.MaxInt8:
		return append(dst, byte(n))
	case n <= math.MaxUint8:
		return append(dst, 0xcc, byte(n))
	case n <= math.MaxUint16:
		return appendBig(append(dst, 0xcd), n, 2)
	case n <= math.MaxUint32:
		return appendBig(append(dst, 0xce), n, 4)
	}
	return appendBig(append(dst, 0xcf), n, 8)
}

// appendCompactInt appends n in the fewest bytes, as msgpack v5's EncodeInt.
func appendCompactInt(dst []byte, n int64) []byte {
	switch {
	case n >= 0:
		return appendCompactUint(dst, uint64(n))
	case n >= -32:
		return append(dst, byte(n))
	case n >= math.MinInt8:
		return append(dst, 0xd0, byte(n))
	case n >= math.MinInt16:
		return appendBig(append(dst, 0xd1), uint64(n), 2)
	case n >= math.MinInt32:
		return appendBig(append(dst, 0xd2), uint64(n), 4)
	}
	return appendBig(append(dst, 0xd3), uint64(n), 8)
}

// appendString appends s as a msgpack str in its smallest form: fixstr,
// str8, str16 or str32.
func appendString(dst []byte, s string) []byte {
	return append(appendHead(dst, strForm, len(s)), s...)
}

// readInt reads a msgpack integer that fits an int64.
func readInt(b []byte) (n int64, size int, ok bool) {
	if len(b) == 0 {
		return 0, 0, false
	}
	c := b[0]
	switch {
	case c <= 0x7f:
		return int64(c), 1, true
	case c >= 0xe0:
		return int64(int8(c)), 1, true
	}
	size = intSize(c)
	if size == 0 || len(b) < size {
		return 0, 0, false
	}
	u := be(b, 1, size-1)
	if c >= 0xd0 { // signed: extend the sign of its width
		shift := 64 - 8*(size-1)
		return int64(u<<shift) >> shift, size, true
	}
	return int64(u), size, u <= math.MaxInt64
}

// readUint reads a msgpack integer that is not negative.
func readUint(b []byte) (n uint64, size int, ok bool) {
	if len(b) == 0 {
		return 0, 0, false
	}
	if b[0] <= 0x7f {
		return uint64(b[0]), 1, true
	}
	if b[0] >= 0xd0 {
		i, size, ok := readInt(b)
		return uint64(i), size, ok && i >= 0
	}
	size = intSize(b[0])
	if size == 0 || len(b) < size {
		return 0, 0, false
	}
	return be(b, 1, size-1), size, true
}

// intSize is the length of a msgpack uint8–64 or int8–64 with code c, or 0.
func intSize(c byte) int {
	if c >= 0xcc && c <= 0xd3 {
		return codes[c].size
	}
	return 0
}
