// Package jsonvalue converts between JSON text and the generic values the
// codecs carry, exactly: the CLI's and the console's arguments and results.
package jsonvalue

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Decode decodes s with integers as int64 (uint64 above math.MaxInt64) and
// other numbers as float64, so they encode as msgpack numbers; an integer
// beyond 64 bits is an error, not a rounded float.
func Decode(s []byte) (any, error) {
	d := json.NewDecoder(bytes.NewReader(s))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		return nil, err
	}
	if d.More() {
		return nil, errors.New("more than one JSON value")
	}
	return numbers(v)
}

func numbers(v any) (any, error) {
	var err error
	switch v := v.(type) {
	case json.Number:
		return number(v)
	case []any:
		for i := range v {
			if v[i], err = numbers(v[i]); err != nil {
				return nil, err
			}
		}
	case map[string]any:
		for k := range v {
			if v[k], err = numbers(v[k]); err != nil {
				return nil, err
			}
		}
	}
	return v, nil
}

// number returns n as the Go number msgpack carries exactly.
func number(n json.Number) (any, error) {
	if i, err := strconv.ParseInt(string(n), 10, 64); err == nil {
		return i, nil
	}
	if u, err := strconv.ParseUint(string(n), 10, 64); err == nil {
		return u, nil
	}
	if !strings.ContainsAny(string(n), ".eE") {
		return nil, fmt.Errorf("the integer %s does not fit in 64 bits: send it as a string", n)
	}
	return strconv.ParseFloat(string(n), 64)
}

// Printable turns what msgpack decodes (maps with non-string keys) into
// values encoding/json can print.
func Printable(v any) any {
	switch v := v.(type) {
	case map[any]any:
		m := make(map[string]any, len(v))
		for k, x := range v {
			m[fmt.Sprint(k)] = Printable(x)
		}
		return m
	case map[string]any:
		for k := range v {
			v[k] = Printable(v[k])
		}
	case []any:
		for i := range v {
			v[i] = Printable(v[i])
		}
	}
	return v
}
