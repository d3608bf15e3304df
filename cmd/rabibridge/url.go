package main

import "net/url"

// redactURL returns u with its password replaced by "xxxxx", for messages.
func redactURL(u string) string {
	p, err := url.Parse(u)
	if err != nil {
		return "(unparsable URL)"
	}
	return p.Redacted()
}
