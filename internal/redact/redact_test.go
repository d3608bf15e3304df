package redact

import (
	"strings"
	"testing"
)

// The passwords below hold what generated passwords hold: '/', '#', '%',
// '?', '@' and ':'. Nothing derived from them may show.
func TestNothingOfThePassword(t *testing.T) {
	for _, c := range []struct {
		url, secret, shown string
		parses             bool
	}{
		{"amqp://guest:Top/Secret99@rabbit:5672/", "Top", "amqp://xxxxx@rabbit:5672/", false},
		{"amqp://guest:12/34Secret@rabbit/", "34Secret", "amqp://xxxxx@rabbit/", false}, // parses as host guest, port 12
		{"amqp://guest:ab#cdSecret@rabbit/", "cdSecret", "amqp://xxxxx@rabbit/", false},
		{"amqp://guest:50%Secret@rabbit/", "Secret", "amqp://xxxxx@rabbit/", false},
		{"amqp://guest:q?Secret@rabbit/", "Secret", "amqp://xxxxx@rabbit/", false},
		{"amqp://guest:a@bSecret@rabbit/", "bSecret", "amqp://guest:xxxxx@rabbit/", true}, // the last '@' ends it
		{"amqps://guest:plainSecret@rabbit:5671/vh", "plainSecret", "amqps://guest:xxxxx@rabbit:5671/vh", true},
		{"amqp://guest:p%2FSecret@rabbit/", "Secret", "amqp://guest:xxxxx@rabbit/", true}, // escaped
	} {
		shown := URL(c.url)
		if shown != c.shown || strings.Contains(shown, c.secret) {
			t.Errorf("URL(%q) = %q, want %q", c.url, shown, c.shown)
		}
		err := Check("the broker URL", c.url)
		if err != nil && (strings.Contains(err.Error(), c.secret) || strings.Contains(err.Error(), "Top")) {
			t.Errorf("Check(%q) leaks: %v", c.url, err)
		}
		if c.parses == (err != nil) {
			t.Errorf("Check(%q) = %v", c.url, err)
		}
	}
	if got := URL("amqp://a:pwOne@h1/,amqp://b:pw/Two@h2/"); strings.Contains(got, "pw") {
		t.Errorf("a list: %q", got)
	}
}
