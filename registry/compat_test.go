package registry_test

import (
	"context"
	"strings"
	"testing"

	"github.com/rabibridge/rabibridge/registry"
)

type orderV1 struct {
	SKU   string   `json:"sku" jsonschema:"maxLength=20"`
	Qty   int      `json:"qty" jsonschema:"minimum=1"`
	Note  *string  `json:"note"`
	Tags  []string `json:"tags"`
	Price int      `json:"price"`
}

type receiptV1 struct {
	ID    string `json:"id"`
	Total int    `json:"total"`
	Memo  string `json:"memo"`
}

type orderV2 struct {
	SKU    string  `json:"sku" jsonschema:"maxLength=10"` // narrowed
	Qty    int     `json:"qty" jsonschema:"minimum=0"`    // relaxed
	Note   *string `json:"note"`
	Tags   []int   `json:"tags"`           // element type changed
	Price  float64 `json:"price"`          // widened: integer to number
	Coupon string  `json:"coupon"`         // a required field added
	Gift   *bool   `json:"gift,omitempty"` // an optional one
}

type receiptV2 struct {
	ID    string  `json:"id"`
	Total float64 `json:"total"` // widened: callers may get a fraction
	Extra string  `json:"extra"` // added
	// Memo removed
}

func functions(t *testing.T, register func(r *registry.Registry) error) []registry.Function {
	t.Helper()
	r := registry.New()
	if err := register(r); err != nil {
		t.Fatal(err)
	}
	return r.Functions()
}

func TestCompare(t *testing.T) {
	before := functions(t, func(r *registry.Registry) error {
		if err := registry.RegisterIn(r, "order", func(context.Context, orderV1) (receiptV1, error) { return receiptV1{}, nil },
			registry.Options{Validate: true}); err != nil {
			return err
		}
		if err := registry.RegisterIn(r, "gone", func(context.Context, int) (int, error) { return 0, nil }, registry.Options{}); err != nil {
			return err
		}
		return registry.RegisterIn(r, "tick", func(context.Context, int) (int, error) { return 0, nil }, registry.Options{})
	})
	after := functions(t, func(r *registry.Registry) error {
		if err := registry.RegisterIn(r, "order", func(context.Context, orderV2) (receiptV2, error) { return receiptV2{}, nil },
			registry.Options{Validate: true}); err != nil {
			return err
		}
		if err := registry.RegisterIn(r, "new", func(context.Context, int) (int, error) { return 0, nil }, registry.Options{}); err != nil {
			return err
		}
		return registry.RegisterIn(r, "tick", func(context.Context, int) (int, error) { return 0, nil }, registry.Options{Kind: registry.Sync})
	})
	var got []string
	for _, c := range registry.Compare(before, after) {
		got = append(got, c.String())
	}
	want := []string{
		"breaking: gone: function: removed",
		"breaking: order: request /coupon: a required field was added",
		"breaking: order: request /sku: maxLength was 20, now 10",
		"breaking: order: request /tags/0: the type was string, now integer",
		"breaking: order: response /memo: the field was removed",
		"breaking: order: response /total: the type was integer, now number",
		"breaking: tick: kind: was async, now sync: callers of the old kind reach no queue",
		"compatible: new: function: added",
		"compatible: order: request /gift: a field was added",
		"compatible: order: request /price: the type was integer, now number",
		"compatible: order: request /qty: minimum was 1, now 0",
		"compatible: order: response /extra: a field was added",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("got:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if changes := registry.Compare(after, after); len(changes) != 0 {
		t.Errorf("a fleet compared with itself: %v", changes)
	}
}
