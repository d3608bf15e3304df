package main

import (
	"net/url"
	"strings"
)

// redactURL returns u, or each of several comma-separated URLs, with any
// password replaced by "xxxxx", for messages.
func redactURL(u string) string {
	parts := strings.Split(u, ",")
	for i, p := range parts {
		pu, err := url.Parse(strings.TrimSpace(p))
		if err != nil {
			parts[i] = "(unparsable URL)"
			continue
		}
		parts[i] = pu.Redacted()
	}
	return strings.Join(parts, ",")
}
