package transport

import (
	"bytes"
	"encoding/binary"
	"io"
	"sync/atomic"
	"testing"
	"testing/iotest"
)

func frame(typ byte, ch uint16, payload []byte) []byte {
	b := []byte{typ, 0, 0, 0, 0, 0, 0}
	binary.BigEndian.PutUint16(b[1:3], ch)
	binary.BigEndian.PutUint32(b[3:7], uint32(len(payload)))
	return append(append(b, payload...), frameEnd)
}

// contentFrames is a content header and body frames of at most 1000
// bytes each.
func contentFrames(ch uint16, body []byte) []byte {
	h := make([]byte, 14)
	binary.BigEndian.PutUint16(h[0:2], 60)
	binary.BigEndian.PutUint64(h[4:12], uint64(len(body)))
	out := frame(frameHeader, ch, h)
	for len(body) > 0 {
		n := min(len(body), 1000)
		out = append(out, frame(frameBody, ch, body[:n])...)
		body = body[n:]
	}
	return out
}

// readFrames parses a frame stream into the bodies of its messages, per
// channel, and counts the other frames.
func readFrames(t *testing.T, stream []byte) (bodies map[uint16][][]byte, others int) {
	bodies = map[uint16][][]byte{}
	want := map[uint16]uint64{}
	for len(stream) > 0 {
		typ, ch := stream[0], binary.BigEndian.Uint16(stream[1:3])
		size := int(binary.BigEndian.Uint32(stream[3:7]))
		payload := stream[7 : 7+size]
		if stream[7+size] != frameEnd {
			t.Fatal("frame end missing")
		}
		stream = stream[8+size:]
		switch typ {
		case frameHeader:
			want[ch] = binary.BigEndian.Uint64(payload[4:12])
			bodies[ch] = append(bodies[ch], []byte{})
		case frameBody:
			i := len(bodies[ch]) - 1
			bodies[ch][i] = append(bodies[ch][i], payload...)
			if uint64(len(bodies[ch][i])) > want[ch] {
				t.Fatalf("channel %d: a body longer than its header says", ch)
			}
		default:
			others++
		}
	}
	return bodies, others
}

func TestInboundKeepsLargeBodiesOut(t *testing.T) {
	small, big := bytes.Repeat([]byte("s"), 2500), bytes.Repeat([]byte("B"), 10_000)
	var stream []byte
	stream = append(stream, frame(1, 1, []byte("deliver"))...)
	stream = append(stream, contentFrames(1, big)...)
	stream = append(stream, frame(8, 0, nil)...) // a heartbeat between
	stream = append(stream, frame(1, 2, []byte("deliver"))...)
	stream = append(stream, contentFrames(2, small)...)
	stream = append(stream, frame(1, 1, []byte("deliver"))...)
	stream = append(stream, contentFrames(1, small)...)

	for _, tc := range []struct {
		name  string
		limit int64
		read  func(io.Reader) io.Reader
	}{
		{"no limit", 0, func(r io.Reader) io.Reader { return r }},
		{"limit", 5000, func(r io.Reader) io.Reader { return r }},
		{"limit, one byte at a time", 5000, iotest.OneByteReader},
		{"limit, half reads", 5000, iotest.HalfReader},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var limit atomic.Int64
			limit.Store(tc.limit)
			out, err := io.ReadAll(tc.read(newInbound(bytes.NewReader(stream), &limit)))
			if err != nil {
				t.Fatal(err)
			}
			if tc.limit == 0 {
				if !bytes.Equal(out, stream) {
					t.Fatal("without a limit the stream changed")
				}
				return
			}
			bodies, others := readFrames(t, out)
			if others != 4 {
				t.Errorf("%d method and heartbeat frames, want 4", others)
			}
			if len(bodies[1]) != 2 || len(bodies[2]) != 1 {
				t.Fatalf("messages per channel: %d, %d", len(bodies[1]), len(bodies[2]))
			}
			if n := tooLarge(bodies[1][0]); n != int64(len(big)) {
				t.Errorf("the large body came as %q, want its marker", bodies[1][0])
			}
			if !bytes.Equal(bodies[1][1], small) || !bytes.Equal(bodies[2][0], small) {
				t.Error("a small body changed")
			}
		})
	}
}

func TestTooLarge(t *testing.T) {
	for body, want := range map[string]int64{
		"\xc1rabibridge: body too large: 123": 123,
		"\xc1rabibridge: body too large: x":   0,
		"\x92\x90\x80":                        0,
		"":                                    0,
	} {
		if got := tooLarge([]byte(body)); got != want {
			t.Errorf("tooLarge(%q) = %d, want %d", body, got, want)
		}
	}
}
