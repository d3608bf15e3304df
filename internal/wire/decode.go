package wire

import (
	"encoding"
	"fmt"
	"math"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/vmihailenco/msgpack/v5"

	"github.com/rabibridge/rabibridge/internal/fields"
)

// Decoding msgpack into a typed Go value: the codec's own decoder, built
// once per type, which gives the value that was sent or a *TypeError
// naming where it does not fit. msgpack v5's reflection converts an
// integer to a narrower or unsigned type with wrap-around, panics on a nil
// for a time.Time and says nothing of where a value went wrong, so it only
// decodes what decodes itself: a type with a DecodeMsgpack,
// UnmarshalMsgpack, UnmarshalBinary or UnmarshalText method, and the
// contents of an interface.
//
// The rules, the same as encoding/json's where both have the value:
//
//   - an integer goes into any integer type it fits, and into a float as
//     the nearest float; a float goes into an integer type only when it is
//     a whole number in range, and into a float32 only when in range;
//   - a nil leaves a bool, number, string, struct or time as it was (the
//     zero value, in a new destination) and makes a pointer, slice, map or
//     interface nil;
//   - a str or a bin goes into a string or a []byte alike, and a timestamp
//     into a string as RFC 3339 text;
//   - a time.Time takes a msgpack timestamp or RFC 3339 text;
//   - a struct takes a map of its fields by name (unknown names are
//     skipped) or an array of them in order;
//   - an array longer than a Go array, a map key that is not a string for a
//     struct, and every other pairing of kinds is refused.
//
// Data reaches a decoder only after checkMsgpack, so every length in it
// lies within it.

// TypeError is a value in a body that does not go into the Go type it was
// decoded into: of the wrong kind, out of the type's range, or refused by
// the type's own decoder.
type TypeError struct {
	// Path is where the value is, as a JSON Pointer ("/items/0/qty"); empty
	// for the whole body.
	Path string
	// Got says what came: "string", "integer 300", "float 1.5", "nil".
	Got string
	// Type is the Go type it could not go into.
	Type reflect.Type
	// Reason says why, when the kinds agree: "out of range", "not an
	// integer", or the type's own decoder's error.
	Reason string
}

func (e *TypeError) Error() string {
	var b strings.Builder
	if e.Path != "" {
		b.WriteString(e.Path)
		b.WriteString(": ")
	}
	b.WriteString("cannot decode ")
	b.WriteString(e.Got)
	b.WriteString(" into ")
	b.WriteString(e.Type.String())
	if e.Reason != "" {
		b.WriteString(": ")
		b.WriteString(e.Reason)
	}
	return b.String()
}

// under prefixes the error's path with the name of the element it is in,
// escaped as JSON Pointer escapes it.
func (e *TypeError) under(name string) *TypeError {
	name = strings.ReplaceAll(strings.ReplaceAll(name, "~", "~0"), "/", "~1")
	e.Path = "/" + name + e.Path
	return e
}

// decodeFunc decodes the value at the start of b into v, which is
// settable, and returns the value's length.
type decodeFunc func(b []byte, v reflect.Value) (int, error)

// typeDecoders holds the decodeFunc of each type, built by decoderOf.
var (
	typeDecoders sync.Map // reflect.Type → decodeFunc
	buildMu      sync.Mutex
)

// decoderOf returns the decodeFunc of values of t.
func decoderOf(t reflect.Type) decodeFunc {
	if fn, ok := typeDecoders.Load(t); ok {
		return fn.(decodeFunc)
	}
	buildMu.Lock()
	defer buildMu.Unlock()
	return build(t, map[reflect.Type]*decodeFunc{})
}

// build returns the decodeFunc of t; building holds the types being built
// further up, so that a recursive type refers to its own decoder.
func build(t reflect.Type, building map[reflect.Type]*decodeFunc) decodeFunc {
	if fn, ok := typeDecoders.Load(t); ok {
		return fn.(decodeFunc)
	}
	if p, ok := building[t]; ok {
		return func(b []byte, v reflect.Value) (int, error) { return (*p)(b, v) }
	}
	p := new(decodeFunc)
	building[t] = p
	*p = compile(t, building)
	typeDecoders.Store(t, *p)
	return *p
}

var (
	mapOfAny   = reflect.TypeFor[map[string]any]()
	sliceOfAny = reflect.TypeFor[[]any]()
)

var decodingMethods = []reflect.Type{
	reflect.TypeFor[msgpack.CustomDecoder](),
	reflect.TypeFor[msgpack.Unmarshaler](),
	reflect.TypeFor[encoding.BinaryUnmarshaler](),
	reflect.TypeFor[encoding.TextUnmarshaler](),
}

// decodesItself reports whether msgpack v5 decodes values of t by a method
// of theirs.
func decodesItself(t reflect.Type) bool {
	p := reflect.PointerTo(t)
	for _, m := range decodingMethods {
		if t.Implements(m) || p.Implements(m) {
			return true
		}
	}
	return false
}

func compile(t reflect.Type, building map[reflect.Type]*decodeFunc) decodeFunc {
	switch {
	case t == timeType:
		return decodeTime
	case t.Kind() == reflect.Pointer: // *T decodes as T does, by T's methods if it has them
		return pointerDecoder(build(t.Elem(), building))
	case decodesItself(t), t == mapOfAny, t == sliceOfAny:
		// Generic values are exact through msgpack v5 (see decodeAny), in
		// one pass over the whole container.
		return decodeByMsgpack
	}
	switch t.Kind() {
	case reflect.Bool:
		return decodeBool
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return decodeInt
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		return decodeUint
	case reflect.Float32, reflect.Float64:
		return decodeFloat
	case reflect.String:
		return decodeString
	case reflect.Interface:
		if t.NumMethod() == 0 {
			return decodeAny
		}
	case reflect.Slice:
		if t.Elem().Kind() == reflect.Uint8 && !decodesItself(t.Elem()) {
			return decodeBytes
		}
		return sliceDecoder(build(t.Elem(), building))
	case reflect.Array:
		return arrayDecoder(t, build(t.Elem(), building))
	case reflect.Map:
		return mapDecoder(t, build(t.Key(), building), build(t.Elem(), building))
	case reflect.Struct:
		return structDecoder(t, building)
	}
	return decodeByMsgpack // msgpack v5 says what it cannot decode into
}

// decodeTyped decodes checked data into v, a non-nil pointer.
func decodeTyped(data []byte, v any) error {
	rv := reflect.ValueOf(v)
	if rv.Kind() != reflect.Pointer || rv.IsNil() {
		return fmt.Errorf("codec: msgpack: cannot decode into %T: want a non-nil pointer", v)
	}
	_, err := decoderOf(rv.Type().Elem())(data, rv.Elem())
	if err != nil {
		return fmt.Errorf("codec: msgpack: %w", err)
	}
	return nil
}

// mismatch is the error of a value at the start of b that v's type does
// not take.
func mismatch(b []byte, v reflect.Value, reason string) (int, error) {
	return 0, &TypeError{Got: describe(b), Type: v.Type(), Reason: reason}
}

// describe says what the value at the start of b is, as a TypeError's Got.
func describe(b []byte) string {
	c := b[0]
	switch {
	case c == 0xc0:
		return "nil"
	case c == 0xc2 || c == 0xc3:
		return "boolean"
	case c == 0xca || c == 0xcb:
		f, _ := readFloat(b)
		return "float " + strconv.FormatFloat(f, 'g', -1, 64)
	}
	if n, _, ok := readInt(b); ok {
		return "integer " + strconv.FormatInt(n, 10)
	}
	if n, _, ok := readUint(b); ok {
		return "integer " + strconv.FormatUint(n, 10)
	}
	switch h := readHead(b); h.kind {
	case kStr:
		return "string"
	case kBin:
		return "bytes"
	case kArray:
		return "array"
	case kMap:
		return "map"
	case kExt:
		if t, ok := extType(b); ok && t == -1 {
			return "timestamp"
		}
		t, _ := extType(b)
		return fmt.Sprintf("ext type %d", t)
	}
	return fmt.Sprintf("msgpack byte 0x%02x", c)
}

func decodeBool(b []byte, v reflect.Value) (int, error) {
	switch b[0] {
	case 0xc2, 0xc3:
		v.SetBool(b[0] == 0xc3)
		return 1, nil
	case 0xc0:
		return 1, nil
	}
	return mismatch(b, v, "")
}

func decodeInt(b []byte, v reflect.Value) (int, error) {
	if n, size, ok := readInt(b); ok {
		if v.OverflowInt(n) {
			return mismatch(b, v, "out of range")
		}
		v.SetInt(n)
		return size, nil
	}
	switch c := b[0]; {
	case c == 0xcf: // a uint64 above math.MaxInt64
		return mismatch(b, v, "out of range")
	case c == 0xca || c == 0xcb:
		f, size := readFloat(b)
		if f != math.Trunc(f) || math.IsInf(f, 0) {
			return mismatch(b, v, "not an integer")
		}
		if f < -(1<<63) || f >= 1<<63 || v.OverflowInt(int64(f)) {
			return mismatch(b, v, "out of range")
		}
		v.SetInt(int64(f))
		return size, nil
	case c == 0xc0:
		return 1, nil
	}
	return mismatch(b, v, "")
}

func decodeUint(b []byte, v reflect.Value) (int, error) {
	if n, size, ok := readUint(b); ok {
		if v.OverflowUint(n) {
			return mismatch(b, v, "out of range")
		}
		v.SetUint(n)
		return size, nil
	}
	if _, _, ok := readInt(b); ok { // a negative integer
		return mismatch(b, v, "out of range")
	}
	switch c := b[0]; {
	case c == 0xca || c == 0xcb:
		f, size := readFloat(b)
		if f != math.Trunc(f) || math.IsInf(f, 0) {
			return mismatch(b, v, "not an integer")
		}
		if f < 0 || f >= 1<<64 || v.OverflowUint(uint64(f)) {
			return mismatch(b, v, "out of range")
		}
		v.SetUint(uint64(f))
		return size, nil
	case c == 0xc0:
		return 1, nil
	}
	return mismatch(b, v, "")
}

func decodeFloat(b []byte, v reflect.Value) (int, error) {
	var f float64
	var size int
	switch c := b[0]; {
	case c == 0xca || c == 0xcb:
		f, size = readFloat(b)
		if v.Kind() == reflect.Float32 && math.IsInf(float64(float32(f)), 0) && !math.IsInf(f, 0) {
			return mismatch(b, v, "out of range")
		}
	case c == 0xc0:
		return 1, nil
	default:
		n, s, ok := readInt(b)
		if ok {
			f, size = float64(n), s
			break
		}
		u, s, ok := readUint(b)
		if !ok {
			return mismatch(b, v, "")
		}
		f, size = float64(u), s
	}
	v.SetFloat(f)
	return size, nil
}

// readFloat reads a msgpack float32 or float64.
func readFloat(b []byte) (float64, int) {
	if b[0] == 0xca {
		return float64(math.Float32frombits(uint32(be(b, 1, 4)))), 5
	}
	return math.Float64frombits(be(b, 1, 8)), 9
}

// readText reads a msgpack str or bin.
func readText(b []byte) (s []byte, size int, ok bool) {
	h := readHead(b)
	if h.kind != kStr && h.kind != kBin {
		return nil, 0, false
	}
	return b[h.size : h.size+h.n], h.size + h.n, true
}

func decodeString(b []byte, v reflect.Value) (int, error) {
	if s, size, ok := readText(b); ok {
		v.SetString(string(s))
		return size, nil
	}
	if b[0] == 0xc0 {
		return 1, nil
	}
	if t, ok := extType(b); ok && t == -1 { // a timestamp, as RFC 3339 text: what JSON carries
		var tm time.Time
		n, err := decodeTime(b, reflect.ValueOf(&tm).Elem())
		if err != nil {
			return mismatch(b, v, err.(*TypeError).Reason)
		}
		text, err := tm.MarshalText()
		if err != nil {
			return mismatch(b, v, err.Error())
		}
		v.SetString(string(text))
		return n, nil
	}
	return mismatch(b, v, "")
}

func decodeBytes(b []byte, v reflect.Value) (int, error) {
	if s, size, ok := readText(b); ok {
		v.SetBytes(append(make([]byte, 0, len(s)), s...))
		return size, nil
	}
	switch h := readHead(b); {
	case b[0] == 0xc0:
		v.SetZero()
		return 1, nil
	case h.kind == kArray: // bytes as an array of numbers
		return sliceDecoder(decodeUint)(b, v)
	}
	return mismatch(b, v, "")
}

func pointerDecoder(elem decodeFunc) decodeFunc {
	return func(b []byte, v reflect.Value) (int, error) {
		if b[0] == 0xc0 {
			v.SetZero()
			return 1, nil
		}
		if v.IsNil() {
			v.Set(reflect.New(v.Type().Elem()))
		}
		return elem(b, v.Elem())
	}
}

func sliceDecoder(elem decodeFunc) decodeFunc {
	return func(b []byte, v reflect.Value) (int, error) {
		h := readHead(b)
		if b[0] == 0xc0 {
			v.SetZero()
			return 1, nil
		}
		if h.kind != kArray {
			return mismatch(b, v, "")
		}
		s := reflect.MakeSlice(v.Type(), h.n, h.n)
		off, err := decodeElements(b, h, s, elem)
		if err != nil {
			return 0, err
		}
		v.Set(s)
		return off, nil
	}
}

// decodeElements decodes the h.n elements of the array b into the first
// h.n elements of s.
func decodeElements(b []byte, h head, s reflect.Value, elem decodeFunc) (int, error) {
	off := h.size
	for i := range h.n {
		n, err := elem(b[off:], s.Index(i))
		if err != nil {
			return 0, under(err, strconv.Itoa(i))
		}
		off += n
	}
	return off, nil
}

// under prefixes a TypeError's path with name.
func under(err error, name string) error {
	if e, ok := err.(*TypeError); ok {
		return e.under(name)
	}
	return err
}

func arrayDecoder(t reflect.Type, elem decodeFunc) decodeFunc {
	bytes := t.Elem().Kind() == reflect.Uint8 && !decodesItself(t.Elem())
	return func(b []byte, v reflect.Value) (int, error) {
		if bytes {
			if s, size, ok := readText(b); ok {
				if len(s) != v.Len() {
					return mismatch(b, v, fmt.Sprintf("%d bytes, want %d", len(s), v.Len()))
				}
				for i, c := range s { // element by element: the array's byte type may be a named one
					v.Index(i).SetUint(uint64(c))
				}
				return size, nil
			}
		}
		h := readHead(b)
		if b[0] == 0xc0 {
			return 1, nil
		}
		if h.kind != kArray {
			return mismatch(b, v, "")
		}
		if h.n > v.Len() {
			return mismatch(b, v, fmt.Sprintf("%d elements, want at most %d", h.n, v.Len()))
		}
		off, err := decodeElements(b, h, v, elem)
		if err != nil {
			return 0, err
		}
		for i := h.n; i < v.Len(); i++ {
			v.Index(i).SetZero()
		}
		return off, nil
	}
}

func mapDecoder(t reflect.Type, key, elem decodeFunc) decodeFunc {
	return func(b []byte, v reflect.Value) (int, error) {
		h := readHead(b)
		if b[0] == 0xc0 {
			v.SetZero()
			return 1, nil
		}
		if h.kind != kMap {
			return mismatch(b, v, "")
		}
		if v.IsNil() {
			v.Set(reflect.MakeMapWithSize(t, h.n))
		}
		k, e := reflect.New(t.Key()).Elem(), reflect.New(t.Elem()).Elem()
		off := h.size
		for range h.n {
			k.SetZero()
			n, err := key(b[off:], k)
			if err != nil {
				return 0, keyError(err)
			}
			name := keyName(b[off:])
			off += n
			e.SetZero()
			if n, err = elem(b[off:], e); err != nil {
				return 0, under(err, name)
			}
			off += n
			v.SetMapIndex(k, e)
		}
		return off, nil
	}
}

// keyError says that a TypeError is of a map key.
func keyError(err error) error {
	if e, ok := err.(*TypeError); ok {
		e.Got = "map key " + e.Got
	}
	return err
}

// keyName is the path element of the value under the key at the start of
// b: the key's text, or its number.
func keyName(b []byte) string {
	if s, _, ok := readText(b); ok {
		return string(s)
	}
	if n, _, ok := readInt(b); ok {
		return strconv.FormatInt(n, 10)
	}
	if n, _, ok := readUint(b); ok {
		return strconv.FormatUint(n, 10)
	}
	return describe(b)
}

// structField is a field a struct decoder fills: its name on the wire and
// where it is, through embedded structs.
type structField struct {
	name  string
	index []int
	dec   decodeFunc
}

func structDecoder(t reflect.Type, building map[reflect.Type]*decodeFunc) decodeFunc {
	var fs []structField
	for _, f := range fields.Of(t) { // by their wire names, embedded structs inlined
		fs = append(fs, structField{name: f.Wire, index: f.Index, dec: build(f.Type, building)})
	}
	find := fieldFinder(fs)
	return func(b []byte, v reflect.Value) (int, error) {
		h := readHead(b)
		switch {
		case b[0] == 0xc0:
			return 1, nil
		case h.kind == kArray: // msgpack v5's as_array form: the fields in order
			if h.n > len(fs) {
				return mismatch(b, v, fmt.Sprintf("an array of %d, want at most %d fields", h.n, len(fs)))
			}
			return decodeStructArray(b, h, v, fs)
		case h.kind != kMap:
			return mismatch(b, v, "")
		}
		off := h.size
		for range h.n {
			name, n, ok := readText(b[off:])
			if !ok {
				return mismatch(b[off:], v, "the keys of a struct's map are its fields' names")
			}
			off += n
			f := find(name)
			if f == nil {
				n, err := msgpackSkip(b[off:], 1)
				if err != nil {
					return 0, err
				}
				off += n
				continue
			}
			fv, err := fieldOf(v, f.index)
			if err != nil {
				return 0, err
			}
			if n, err = f.dec(b[off:], fv); err != nil {
				return 0, under(err, f.name)
			}
			off += n
		}
		return off, nil
	}
}

func decodeStructArray(b []byte, h head, v reflect.Value, fs []structField) (int, error) {
	off := h.size
	for i := range h.n {
		f := &fs[i]
		fv, err := fieldOf(v, f.index)
		if err != nil {
			return 0, err
		}
		n, err := f.dec(b[off:], fv)
		if err != nil {
			return 0, under(err, f.name)
		}
		off += n
	}
	return off, nil
}

// fieldFinder returns a function that finds a field by its wire name: a
// scan for a few fields, a map for more.
func fieldFinder(fs []structField) func(name []byte) *structField {
	if len(fs) <= 8 {
		return func(name []byte) *structField {
			for i := range fs {
				if fs[i].name == string(name) {
					return &fs[i]
				}
			}
			return nil
		}
	}
	byName := make(map[string]*structField, len(fs))
	for i := range fs {
		byName[fs[i].name] = &fs[i]
	}
	return func(name []byte) *structField { return byName[string(name)] }
}

// fieldOf returns the field of struct v at index, making the embedded
// struct pointers on the way.
func fieldOf(v reflect.Value, index []int) (reflect.Value, error) {
	if len(index) == 1 {
		return v.Field(index[0]), nil
	}
	for i, x := range index {
		if i > 0 && v.Kind() == reflect.Pointer {
			if v.IsNil() {
				if !v.CanSet() {
					return v, fmt.Errorf("cannot set the embedded pointer to unexported %s", v.Type().Elem())
				}
				v.Set(reflect.New(v.Type().Elem()))
			}
			v = v.Elem()
		}
		v = v.Field(x)
	}
	return v, nil
}

// decodeAny decodes into an empty interface: through msgpack v5, whose
// interface values are exact (it keeps each integer's width), made what
// the codec promises by normalAny.
func decodeAny(b []byte, v reflect.Value) (int, error) {
	if b[0] == 0xc0 {
		v.SetZero()
		return 1, nil
	}
	n, err := msgpackSkip(b, 1)
	if err != nil {
		return 0, err
	}
	var x any
	if err := unmarshalMsgpack(b[:n], &x); err != nil {
		return mismatch(b, v, strings.TrimPrefix(err.Error(), "codec: msgpack: "))
	}
	if x == nil {
		v.SetZero()
	} else {
		v.Set(reflect.ValueOf(x))
	}
	return n, nil
}

// decodeByMsgpack decodes a value that decodes itself (or that no rule
// above covers) with msgpack v5.
func decodeByMsgpack(b []byte, v reflect.Value) (int, error) {
	n, err := msgpackSkip(b, 1)
	if err != nil {
		return 0, err
	}
	p := reflect.New(v.Type())
	p.Elem().Set(v)
	if err := unmarshalMsgpack(b[:n], p.Interface()); err != nil {
		reason := strings.TrimPrefix(err.Error(), "codec: msgpack: ")
		return mismatch(b, v, strings.TrimPrefix(reason, ErrMalformed.Error()+": "))
	}
	v.Set(p.Elem())
	return n, nil
}

// extType reads the type of the ext at the start of b.
func extType(b []byte) (int8, bool) {
	h := readHead(b)
	if h.kind != kExt {
		return 0, false
	}
	return int8(b[h.size-1]), true
}

// decodeTime decodes a msgpack timestamp or RFC 3339 text into a
// time.Time, in UTC.
func decodeTime(b []byte, v reflect.Value) (int, error) {
	if b[0] == 0xc0 {
		return 1, nil
	}
	if s, size, ok := readText(b); ok && readHead(b).kind == kStr {
		var t time.Time // parsed as encoding/json parses it, so both codecs take the same texts
		if err := t.UnmarshalText(s); err != nil {
			return mismatch(b, v, fmt.Sprintf("%q is not RFC 3339 text with a zone", s))
		}
		v.Set(reflect.ValueOf(t.UTC()))
		return size, nil
	}
	if t, ok := extType(b); !ok || t != -1 {
		return mismatch(b, v, "")
	}
	h := readHead(b)
	p := b[h.size : h.size+h.n]
	var sec int64
	var nsec uint64
	switch len(p) {
	case 4:
		sec = int64(be(p, 0, 4))
	case 8:
		x := be(p, 0, 8)
		sec, nsec = int64(x&(1<<34-1)), x>>34
	case 12:
		nsec, sec = be(p, 0, 4), int64(be(p, 4, 8))
	default:
		return mismatch(b, v, fmt.Sprintf("a timestamp of %d bytes", len(p)))
	}
	if nsec > 999_999_999 {
		return mismatch(b, v, "a timestamp's nanoseconds over 999999999")
	}
	v.Set(reflect.ValueOf(time.Unix(sec, int64(nsec)).UTC()))
	return h.size + h.n, nil
}
