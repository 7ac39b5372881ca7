package httpapi

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// Remembered source URLs answer as a fresh parse does, and the memory stays bounded.
func TestRememberedSourceURLs(t *testing.T) {
	cases := map[string]parsedURL{
		"HTTPS://WWW.Mozilla.org":   {href: "https://www.mozilla.org/"},
		"https://example.com/a b?c": {href: "https://example.com/a%20b?c"},
		"/relative":                 {problem: "relative URL without a base"},
		"https://":                  {problem: "empty host"},
		"http://[::1":               {problem: "invalid URL"},
		strings.Repeat("x", 2000):   {problem: "relative URL without a base"},
	}
	for s, want := range cases {
		require.Equal(t, want, parseURL(s), s) // parsed
		require.Equal(t, want, parseURL(s), s) // remembered (or too long to be)
	}
	for i := range maxRememberedURLs + 10 {
		parseURL("https://example.com/" + strings.Repeat("p", i%50) + string(rune('a'+i%26)) + strings.Repeat("q", i/50))
	}
	sourceURLs.Lock()
	n := len(sourceURLs.seen)
	sourceURLs.Unlock()
	require.LessOrEqual(t, n, maxRememberedURLs)
}
