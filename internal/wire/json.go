package wire

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"reflect"
	"strconv"
	"strings"
)

// JSON is the JSON codec (RabiBridge's "json" serialiser). Struct fields are
// named by their json tag. Unmarshal into an interface gives json.Number for
// numbers, so integers survive a round trip exactly; a time.Time is in UTC.
var JSON Codec = jsonCodec{}

type jsonCodec struct{}

func (jsonCodec) Name() string        { return "json" }
func (jsonCodec) ContentType() string { return "application/json" }

func (c jsonCodec) Marshal(v any) ([]byte, error) { return c.AppendValue(nil, v) }

func (jsonCodec) AppendValue(dst []byte, v any) ([]byte, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return dst, fmt.Errorf("codec: json: %w", err)
	}
	return append(dst, b...), nil
}

func (c jsonCodec) UnmarshalShared(data []byte, v any) error { return c.Unmarshal(data, v) }

func (jsonCodec) Unmarshal(data []byte, v any) error {
	d := json.NewDecoder(bytes.NewReader(data))
	d.UseNumber()
	if err := d.Decode(v); err != nil {
		return jsonError(data, v, err)
	}
	if d.More() {
		return fmt.Errorf("codec: json: %w: data after the value", ErrMalformed)
	}
	jsonNorm.normalize(v)
	return nil
}

func (jsonCodec) AppendArray(dst []byte, _ int) []byte { return append(dst, '[') }

func (jsonCodec) AppendSep(dst []byte, i int) []byte {
	if i > 0 {
		return append(dst, ',')
	}
	return dst
}

func (jsonCodec) AppendEnd(dst []byte) []byte      { return append(dst, ']') }
func (jsonCodec) AppendEmptyMap(dst []byte) []byte { return append(dst, '{', '}') }
func (jsonCodec) AppendInt(dst []byte, i int) []byte {
	return strconv.AppendInt(dst, int64(i), 10)
}

func (jsonCodec) Elements(dst [][]byte, data []byte) ([][]byte, error) {
	if bytes.Equal(bytes.TrimSpace(data), []byte("null")) {
		return dst, nil
	}
	var parts []json.RawMessage
	if err := json.Unmarshal(data, &parts); err != nil {
		return dst, fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	for _, p := range parts {
		dst = append(dst, p)
	}
	return dst, nil
}

func (jsonCodec) IsEmpty(data []byte) bool {
	switch string(bytes.Join(bytes.Fields(data), nil)) {
	case "[]", "{}", "null":
		return true
	}
	return false
}

// jsonError is the error of data that encoding/json did not decode into
// v: malformed when data is not JSON, else a *TypeError naming where the
// value does not fit. encoding/json's own error names a struct field but
// no array index, so the path comes from decoding the same value with the
// msgpack decoder, whose rules are the same; encoding/json's is the
// answer where that decoder takes the value.
func jsonError(data []byte, v any, err error) error {
	var syntax *json.SyntaxError
	if errors.As(err, &syntax) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return fmt.Errorf("codec: json: %w: %w", ErrMalformed, err)
	}
	var ute *json.UnmarshalTypeError
	isUTE := errors.As(err, &ute)
	if te := pathOf(data, reflect.TypeOf(v)); te != nil {
		if isUTE && (te.Got == "float +Inf" || te.Got == "float -Inf") { // an integer past 64 bits, which numbersOf made infinite
			te.Got, te.Reason = ute.Value, "out of range"
		}
		return fmt.Errorf("codec: json: %w", te)
	}
	if isUTE {
		te := &TypeError{Got: ute.Value, Type: ute.Type}
		if ute.Field != "" {
			te.Path = "/" + strings.ReplaceAll(ute.Field, ".", "/")
		}
		return fmt.Errorf("codec: json: %w", te)
	}
	return fmt.Errorf("codec: json: %w", err)
}

// pathOf decodes JSON data by the msgpack decoder into a new value of t, a
// pointer type, and returns its TypeError, if it gives one.
func pathOf(data []byte, t reflect.Type) *TypeError {
	if t == nil || t.Kind() != reflect.Pointer {
		return nil
	}
	d := json.NewDecoder(bytes.NewReader(data))
	d.UseNumber()
	var x any
	if d.Decode(&x) != nil {
		return nil
	}
	b, err := appendMsgpack(nil, numbersOf(x))
	if err != nil {
		return nil
	}
	var te *TypeError
	if err := decodeTyped(b, reflect.New(t.Elem()).Interface()); errors.As(err, &te) {
		return te
	}
	return nil
}

// numbersOf turns the json.Numbers in x into the int64, uint64 or float64
// they hold, in place.
func numbersOf(x any) any {
	switch x := x.(type) {
	case json.Number:
		if n, err := strconv.ParseInt(string(x), 10, 64); err == nil {
			return n
		}
		if n, err := strconv.ParseUint(string(x), 10, 64); err == nil {
			return n
		}
		f, _ := strconv.ParseFloat(string(x), 64)
		if !strings.ContainsAny(string(x), ".eE") { // an integer past 64 bits: out of every integer type's range
			return math.Inf(int(math.Copysign(1, f)))
		}
		return f
	case []any:
		for i := range x {
			x[i] = numbersOf(x[i])
		}
	case map[string]any:
		for k := range x {
			x[k] = numbersOf(x[k])
		}
	}
	return x
}
