package wire

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
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
		return fmt.Errorf("codec: json: %w: %w", ErrMalformed, err)
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
