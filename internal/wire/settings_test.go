package wire

import "testing"

func TestResolve(t *testing.T) {
	for _, tc := range []struct {
		name           string
		codec          interface{ Name() string }
		threshold, max int
		want           Settings
	}{
		{"zero", nil, 0, 0, Settings{Msgpack, DefaultCompressThreshold, DefaultMaxBodySize}},
		{"set", JSON, 10, 20, Settings{JSON, 10, 20}},
		{"compression off", nil, -1, -1, Settings{Msgpack, -1, DefaultMaxBodySize}},
	} {
		var c interface{ Name() string }
		if tc.codec != nil {
			c = builtinLike{tc.codec.(Codec)}
		}
		if got := Resolve(c, tc.threshold, tc.max); got != tc.want {
			t.Errorf("%s: got %+v, want %+v", tc.name, got, tc.want)
		}
	}
}

// builtinLike stands for a codec.Codec, which Of unwraps.
type builtinLike struct{ Codec }

func (b builtinLike) Wire() Codec { return b.Codec }
