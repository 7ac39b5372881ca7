package contact

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

var normalURLSeeds = []string{
	"https://www.mozilla.org/fr/newsletter/", "http://localhost:8888/v1", "https://example.com/a?b=c&d=/e?f",
	"https://a-b.example/x;y=z/~u@v:w!$()*+,", "https://x.example/", "https://x.example/a/./b", "https://x.example/a/..",
	"https://x.example/%2e/", "HTTPS://x.example/", "https://X.example/", "https://x.example", "https://x.example:443/",
	"https://u@x.example/", "https://1.2.3.4/", "https://x.0x10/", "https://xn--bcher-kva.example/", "https://x..example/",
	"https://x.example./", "https://-x.example/", "https://x.example/a b", "https://x.example/a\\b", "https://x.example/#f",
	"https://x.example/?a'b", "ftp://x.example/", "https://x.example/\t", " https://x.example/", "https://ab--c.example/",
}

// isNormalURL may answer false for a URL in normal form (the parser then
// runs), never true for one the parser would write differently.
func FuzzNormalURL(f *testing.F) {
	for _, s := range normalURLSeeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if !isNormalURL(s) {
			return
		}
		u, err := urlParser.Parse(s)
		require.NoError(t, err, s)
		require.Equal(t, s, u.Href(false))
	})
}

func TestNormalURL(t *testing.T) {
	t.Parallel()
	var normal []string
	for _, s := range normalURLSeeds {
		if isNormalURL(s) {
			normal = append(normal, s)
		}
	}
	require.Equal(t, []string{"https://www.mozilla.org/fr/newsletter/", "https://example.com/a?b=c&d=/e?f",
		"https://a-b.example/x;y=z/~u@v:w!$()*+,", "https://x.example/"}, normal,
		"the common forms skip the parser; anything unusual does not")
}

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
