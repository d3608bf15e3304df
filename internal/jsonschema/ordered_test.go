package jsonschema

import (
	"encoding/json"
	"reflect"
	"testing"
)

func TestPropertiesKeepOrder(t *testing.T) {
	type s struct {
		Zeta  int    `json:"zeta"`
		Alpha string `json:"alpha"`
		Mid   bool   `json:"mid"`
	}
	r := &Reflector{ExpandedStruct: true, Anonymous: true}
	doc, err := json.Marshal(r.ReflectFromType(reflect.TypeFor[s]()))
	if err != nil {
		t.Fatal(err)
	}
	want := `{"$schema":"https://json-schema.org/draft/2020-12/schema","properties":{"zeta":{"type":"integer"},"alpha":{"type":"string"},"mid":{"type":"boolean"}},"additionalProperties":false,"type":"object","required":["zeta","alpha","mid"]}`
	if string(doc) != want {
		t.Errorf("got  %s\nwant %s", doc, want)
	}
	var back Schema
	if err := json.Unmarshal(doc, &back); err != nil {
		t.Fatal(err)
	}
	if got := back.Properties.Keys(); !reflect.DeepEqual(got, []string{"zeta", "alpha", "mid"}) {
		t.Errorf("read back in the order %v", got)
	}
	again, _ := json.Marshal(&back)
	if string(again) != want {
		t.Errorf("round trip: %s", again)
	}
}

// upstreamSchema stands for another package's schema type, as a type
// written for upstream invopop/jsonschema returns it.
type upstreamSchema struct {
	Type    string `json:"type"`
	Pattern string `json:"pattern,omitempty"`
}

type sku string

func (sku) JSONSchema() *upstreamSchema {
	return &upstreamSchema{Type: "string", Pattern: "^[A-Z]{3}$"}
}

func TestForeignSchemaMethod(t *testing.T) {
	type item struct {
		SKU sku `json:"sku"`
	}
	if !DescribesItself(reflect.TypeFor[sku]()) {
		t.Fatal("sku's JSONSchema method is not seen")
	}
	r := &Reflector{ExpandedStruct: true, DoNotReference: true, Anonymous: true}
	doc, _ := json.Marshal(r.ReflectFromType(reflect.TypeFor[item]()))
	want := `{"$schema":"https://json-schema.org/draft/2020-12/schema","properties":{"sku":{"type":"string","pattern":"^[A-Z]{3}$"}},"additionalProperties":false,"type":"object","required":["sku"]}`
	if string(doc) != want {
		t.Errorf("got  %s\nwant %s", doc, want)
	}
}
