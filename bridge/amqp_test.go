package bridge

import (
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
)

func TestCallID(t *testing.T) {
	deadline := time.UnixMilli(1764057600123)
	for _, tc := range []struct {
		id       string
		cid      string
		deadline time.Time
	}{
		{"42@1764057600123", "42", deadline},
		{"42", "42", time.Time{}},
		{"42@", "42@", time.Time{}},
		{"a@b@1764057600123", "a@b", deadline},
		{"42@17640576001x3", "42@17640576001x3", time.Time{}},
		{"42@1234567890123456789", "42@1234567890123456789", time.Time{}}, // not 13 digits
		{"42@176405760012", "42@176405760012", time.Time{}},
		{"@1764057600123", "", deadline},
		{"", "", time.Time{}},
	} {
		cid, d := splitCallID(tc.id)
		if cid != tc.cid || !d.Equal(tc.deadline) {
			t.Errorf("splitCallID(%q) = %q, %v; want %q, %v", tc.id, cid, d, tc.cid, tc.deadline)
		}
	}
	if id := callID("42", deadline); id != "42@1764057600123" {
		t.Errorf("callID = %q", id)
	}
	if id := callID("42", time.Time{}); id != "42" {
		t.Errorf("callID without a deadline = %q", id)
	}
}

// TestMessageDeadline checks where a delivery's deadline comes from: the
// correlation id, else the header (as int64 or int32), and that the id is
// given without it.
func TestMessageDeadline(t *testing.T) {
	ms := int64(1764057600123)
	for _, d := range []amqp.Delivery{
		{CorrelationId: "7@1764057600123"},
		{CorrelationId: "7", Headers: amqp.Table{HeaderDeadline: ms}},
		{CorrelationId: "7", Headers: amqp.Table{HeaderDeadline: int32(ms % (1 << 31))}},
	} {
		m := message(d)
		want := ms
		if v, ok := d.Headers[HeaderDeadline].(int32); ok {
			want = int64(v)
		}
		if m.CorrelationID != "7" || m.Deadline.UnixMilli() != want {
			t.Errorf("message(%q, %v) = %q, %v", d.CorrelationId, d.Headers, m.CorrelationID, m.Deadline.UnixMilli())
		}
	}
	p := publishing(Message{CorrelationID: "7", Deadline: time.UnixMilli(ms)})
	if p.CorrelationId != "7@1764057600123" || p.Headers != nil {
		t.Errorf("publishing: id %q, headers %v", p.CorrelationId, p.Headers)
	}
}

func BenchmarkCallID(b *testing.B) {
	deadline := time.Now().Add(time.Minute)
	b.ReportAllocs()
	for b.Loop() {
		id := callID("123456789", deadline)
		if cid, _ := splitCallID(id); cid != "123456789" {
			b.Fatal(cid)
		}
	}
}
