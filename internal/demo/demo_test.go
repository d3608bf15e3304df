package demo

import (
	"context"
	"math"
	"testing"

	"github.com/rabibridge/rabibridge"
)

func TestAddIsExactOrRefused(t *testing.T) {
	for _, c := range []struct {
		a, b, sum int
		refused   bool
	}{
		{1, 2, 3, false},
		{0, 0, 0, false},
		{-5, 3, -2, false},
		{math.MaxInt64, 0, math.MaxInt64, false},
		{math.MaxInt64 - 1, 1, math.MaxInt64, false},
		{math.MinInt64, 0, math.MinInt64, false},
		{math.MinInt64 + 1, -1, math.MinInt64, false},
		{math.MaxInt64, math.MinInt64, -1, false},
		{math.MaxInt64, 1, 0, true},
		{1, math.MaxInt64, 0, true},
		{math.MinInt64, -1, 0, true},
		{math.MaxInt64, math.MaxInt64, 0, true},
		{math.MinInt64, math.MinInt64, 0, true},
	} {
		sum, err := Add(context.Background(), AddReq{A: c.a, B: c.b})
		if c.refused {
			if rabibridge.CodeOf(err) != rabibridge.CodeInvalidArgument {
				t.Errorf("add(%d, %d) = %d, %v; want invalid_argument", c.a, c.b, sum, err)
			}
			continue
		}
		if err != nil || sum != c.sum {
			t.Errorf("add(%d, %d) = %d, %v; want %d", c.a, c.b, sum, err, c.sum)
		}
	}
}
