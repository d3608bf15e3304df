// Package redact writes broker URLs for messages with nothing of their
// passwords, however malformed they are.
package redact

import (
	"fmt"
	"net/url"
	"strings"
)

// URL returns u, or each of several comma-separated URLs, with its
// password replaced by "xxxxx". A URL that does not parse as one with user
// information where it should be (a password with an unescaped '/', '#',
// '?' or '%' makes the parser see a host, a port or a path in it) is
// written without its user information at all: everything up to the last
// '@' is "xxxxx".
func URL(u string) string {
	parts := strings.Split(u, ",")
	for i, p := range parts {
		parts[i] = one(strings.TrimSpace(p))
	}
	return strings.Join(parts, ",")
}

func one(u string) string {
	if p, err := url.Parse(u); err == nil && !misread(p) {
		return p.Redacted()
	}
	scheme, rest, ok := strings.Cut(u, "://")
	if !ok {
		return "(not a URL)"
	}
	if at := strings.LastIndexByte(rest, '@'); at >= 0 {
		rest = "xxxxx@" + rest[at+1:]
	}
	return scheme + "://" + rest
}

// misread reports whether an '@' sits beyond the authority: the parser took
// part of the user information for a path, a query or a fragment.
func misread(p *url.URL) bool {
	return strings.ContainsRune(p.Opaque+p.Path+p.RawQuery+p.Fragment, '@')
}

// Check returns an error when u does not parse as a broker URL, which
// holds nothing of u's user information; what names u in it is which, such
// as "broker URL 2 of 3".
func Check(which, u string) error {
	p, err := url.Parse(u)
	if err == nil && !misread(p) {
		return nil
	}
	safe := one(u)
	if _, err := url.Parse(safe); err != nil {
		return fmt.Errorf("%s does not parse: %w", which, err) // the error quotes safe, not u
	}
	return fmt.Errorf("%s (%s): its user name or password does not parse: percent-encode "+
		"'/', '#', '?', '%%', '@' and ':' in them (url.UserPassword does)", which, safe)
}
