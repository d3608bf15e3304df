package protocol

import (
	"testing"
	"time"
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
		cid, d := SplitCallID(tc.id)
		if cid != tc.cid || !d.Equal(tc.deadline) {
			t.Errorf("SplitCallID(%q) = %q, %v; want %q, %v", tc.id, cid, d, tc.cid, tc.deadline)
		}
	}
	if id := CallID("42", deadline); id != "42@1764057600123" {
		t.Errorf("callID = %q", id)
	}
	if id := CallID("42", time.Time{}); id != "42" {
		t.Errorf("callID without a deadline = %q", id)
	}
	// Whatever the deadline, the id reads back as the caller's: a deadline
	// after 2286 (14 digits) is not carried, one before 2001 is padded.
	for _, d := range []time.Time{
		time.Date(2300, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Date(1999, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Date(1970, 1, 1, 0, 0, 1, 0, time.UTC),
		time.Date(1960, 1, 1, 0, 0, 0, 0, time.UTC),
		time.UnixMilli(MaxDeadlineMS),
	} {
		cid, back := SplitCallID(CallID("42", d))
		if cid != "42" {
			t.Errorf("CallID(42, %v) reads back as %q", d, cid)
		}
		if carried := d.UnixMilli() >= 0 && d.UnixMilli() <= MaxDeadlineMS; carried && !back.Equal(d) {
			t.Errorf("CallID(42, %v): the deadline reads back as %v", d, back)
		}
	}
}

// TestMessageDeadline checks where a delivery's deadline comes from: the
// correlation id, else the header (as int64 or int32), and that the id is
// given without it.
func TestNames(t *testing.T) {
	if got := QueueName("", "add"); got != "rpc_async_add" {
		t.Errorf("QueueName = %q", got)
	}
	if got := RoutingKey("sync", "add"); got != "sync_add" {
		t.Errorf("RoutingKey = %q", got)
	}
	args := QueueArgs(10, 1500*time.Millisecond, false)
	if args["x-max-length"] != int64(10) || args["x-message-ttl"] != int64(1500) || args["x-overflow"] != "reject-publish" || len(args) != 3 {
		t.Errorf("QueueArgs = %v", args)
	}
	if q := QueueArgs(0, 0, true); q["x-queue-type"] != "quorum" || AutoDelete(true) || !AutoDelete(false) {
		t.Errorf("quorum: %v", q)
	}
}

func TestCheckKind(t *testing.T) {
	for in, want := range map[string]string{"": "async", "async": "async", "sync": "sync"} {
		if got, err := CheckKind(in); err != nil || got != want {
			t.Errorf("CheckKind(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, bad := range []string{"Sync", "batch", " async"} {
		if _, err := CheckKind(bad); err == nil {
			t.Errorf("CheckKind(%q): no error", bad)
		}
	}
}
