package jsonschema

import (
	"bytes"
	"encoding/json"
	"errors"
)

// Properties holds a schema's properties in the order they were set, which
// is the order they are written in: a struct's fields' order. It stands in
// for the ordered map of upstream invopop/jsonschema, whose dependency
// brings in a YAML package that no worker should link.
type Properties struct {
	keys   []string
	values map[string]*Schema
}

// NewProperties returns an empty Properties.
func NewProperties() *Properties { return &Properties{values: map[string]*Schema{}} }

// Set sets key to value, keeping key's place when it was set before.
func (p *Properties) Set(key string, value *Schema) {
	if _, ok := p.values[key]; !ok {
		p.keys = append(p.keys, key)
	}
	p.values[key] = value
}

// Get returns the value of key.
func (p *Properties) Get(key string) (*Schema, bool) {
	v, ok := p.values[key]
	return v, ok
}

// Len returns the number of properties.
func (p *Properties) Len() int {
	if p == nil {
		return 0
	}
	return len(p.keys)
}

// Keys returns the keys in order.
func (p *Properties) Keys() []string { return p.keys }

// MarshalJSON writes the properties as an object, in order.
func (p *Properties) MarshalJSON() ([]byte, error) {
	if p == nil {
		return []byte("null"), nil
	}
	var buf bytes.Buffer
	buf.WriteByte('{')
	for i, k := range p.keys {
		if i > 0 {
			buf.WriteByte(',')
		}
		kb, err := json.Marshal(k)
		if err != nil {
			return nil, err
		}
		vb, err := json.Marshal(p.values[k])
		if err != nil {
			return nil, err
		}
		buf.Write(kb)
		buf.WriteByte(':')
		buf.Write(vb)
	}
	buf.WriteByte('}')
	return buf.Bytes(), nil
}

// UnmarshalJSON reads an object, keeping its keys' order.
func (p *Properties) UnmarshalJSON(data []byte) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	tok, err := dec.Token()
	if err != nil {
		return err
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return errors.New("jsonschema: properties: want an object")
	}
	*p = *NewProperties()
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return err
		}
		key, _ := tok.(string)
		var v *Schema
		if err := dec.Decode(&v); err != nil {
			return err
		}
		p.Set(key, v)
	}
	_, err = dec.Token() // the closing brace
	return err
}
