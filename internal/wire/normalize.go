package wire

import (
	"math"
	"reflect"
	"sync"
	"time"
)

// What decoding gives, whichever codec and whichever peer sent the value:
//
//   - a time.Time is in UTC: msgpack's timestamp carries no zone, and
//     JSON's offset is applied, so a time comes back Equal to the one sent
//     but in UTC (not reflect.DeepEqual to one in another zone);
//   - from msgpack, an interface (an any, a map[string]any's values, a
//     []any's elements) holds int64 for an integer that fits, else uint64,
//     float64 for a float, []byte for a byte string (bin) and string for a
//     text string (str), so bytes a Python peer sends as bytes stay bytes.
//
// msgpack v5 decodes interfaces into int8 … uint64 and float32 as the wire
// had them, and times in time.Local; normalize makes that the above, after
// msgpack v5 (or encoding/json) has decoded. Types that hold neither an
// interface nor a time are left alone, decided once per type.

var timeType = reflect.TypeFor[time.Time]()

// normalizers caches, per codec, whether values of a type need normalize.
type normalizers struct {
	interfaces bool     // interfaces need it too (msgpack), not only times
	need       sync.Map // reflect.Type → bool
}

var (
	msgpackNorm = &normalizers{interfaces: true}
	jsonNorm    = &normalizers{}
)

// normalize makes the value v points to what the codec promises (see
// above). v is what Unmarshal was given: a non-nil pointer.
func (n *normalizers) normalize(v any) {
	if p, ok := v.(*any); ok { // the common generic case, without reflection
		if n.interfaces {
			*p = normalAny(*p)
		}
		return
	}
	rv := reflect.ValueOf(v)
	if rv.Kind() != reflect.Pointer || rv.IsNil() || !n.needs(rv.Type().Elem()) {
		return
	}
	n.walk(rv.Elem())
}

// needs reports whether values of t can hold a time.Time (or, for msgpack,
// an interface) that normalize changes.
func (n *normalizers) needs(t reflect.Type) bool {
	if need, ok := n.need.Load(t); ok {
		return need.(bool)
	}
	need := n.search(t, map[reflect.Type]bool{})
	n.need.Store(t, need)
	return need
}

func (n *normalizers) search(t reflect.Type, seen map[reflect.Type]bool) bool {
	if t == timeType {
		return true
	}
	if seen[t] {
		return false // a recursive type: whatever it holds is found elsewhere in it
	}
	seen[t] = true
	switch t.Kind() {
	case reflect.Interface:
		return n.interfaces && t.NumMethod() == 0 // what msgpack v5 decodes into
	case reflect.Pointer, reflect.Slice, reflect.Array:
		return n.search(t.Elem(), seen)
	case reflect.Map:
		return n.search(t.Elem(), seen)
	case reflect.Struct:
		for f := range t.Fields() {
			// An embedded struct's exported fields are set through it, even
			// when its own type is unexported, as the decoders set them.
			if (f.IsExported() || f.Anonymous) && n.search(f.Type, seen) {
				return true
			}
		}
	}
	return false
}

// walk normalizes v, which is settable, in place.
func (n *normalizers) walk(v reflect.Value) {
	t := v.Type()
	if !v.CanSet() && (t.Kind() != reflect.Struct || t == timeType) {
		return // what the decoders cannot set either
	}
	if t == timeType {
		tm := v.Interface().(time.Time)
		v.Set(reflect.ValueOf(tm.UTC()))
		return
	}
	if !n.needs(t) {
		return
	}
	switch t.Kind() {
	case reflect.Interface:
		if !v.IsNil() {
			if x := normalAny(v.Elem().Interface()); x != nil {
				v.Set(reflect.ValueOf(x))
			}
		}
	case reflect.Pointer:
		if !v.IsNil() {
			n.walk(v.Elem())
		}
	case reflect.Slice, reflect.Array:
		for i := range v.Len() {
			n.walk(v.Index(i))
		}
	case reflect.Map:
		elem := reflect.New(t.Elem()).Elem()
		for it := v.MapRange(); it.Next(); {
			elem.Set(it.Value())
			n.walk(elem)
			v.SetMapIndex(it.Key(), elem)
		}
	case reflect.Struct:
		for i := range t.NumField() {
			if f := t.Field(i); f.IsExported() || f.Anonymous {
				n.walk(v.Field(i))
			}
		}
	}
}

// normalAny returns x, a value msgpack v5 decoded into an interface, as
// the msgpack codec promises it (see above).
func normalAny(x any) any {
	switch x := x.(type) {
	case int8:
		return int64(x)
	case int16:
		return int64(x)
	case int32:
		return int64(x)
	case uint8:
		return int64(x)
	case uint16:
		return int64(x)
	case uint32:
		return int64(x)
	case uint64:
		if x <= math.MaxInt64 {
			return int64(x)
		}
		return x
	case float32:
		return float64(x)
	case time.Time:
		return x.UTC()
	case []any:
		for i := range x {
			x[i] = normalAny(x[i])
		}
	case map[string]any:
		for k, e := range x {
			x[k] = normalAny(e)
		}
	}
	return x
}
