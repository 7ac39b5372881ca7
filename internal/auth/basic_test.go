package auth

import (
	"encoding/base64"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestParseBasic(t *testing.T) {
	t.Parallel()
	enc := func(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }
	type want struct {
		id, secret    string
		ok, malformed bool
	}
	for name, tc := range map[string]struct {
		header string
		want   want
	}{
		"Absent":          {"", want{}},
		"Bearer":          {"Bearer abc", want{}},
		"SchemeOnlyOther": {"Digest", want{}},
		"Valid":           {"Basic " + enc("id_a:secret_b"), want{"id_a", "secret_b", true, false}},
		"SchemeCase":      {"bAsIc " + enc("id_a:s"), want{"id_a", "s", true, false}},
		"ColonInSecret":   {"Basic " + enc("id_a:s:t"), want{"id_a", "s:t", true, false}},
		"EmptyParts":      {"Basic " + enc(":"), want{"", "", true, false}},
		"NoURLDecoding":   {"Basic " + enc("id%20a:s%3A"), want{"id%20a", "s%3A", true, false}},
		// Python's b64decode skips characters outside the alphabet and stops
		// after padding.
		"ExtraSpace":      {"Basic  " + enc("id_a:s"), want{"id_a", "s", true, false}},
		"JunkInside":      {"Basic aWRf*YTpz", want{"id_a", "s", true, false}},
		"AfterPadding":    {"Basic " + enc("id_a:sx") + "trailing", want{"id_a", "sx", true, false}},
		"NoColon":         {"Basic " + enc("id_a"), want{malformed: true}},
		"BadPadding":      {"Basic aWRfYTpzeA", want{malformed: true}},
		"OneExtraChar":    {"Basic a", want{malformed: true}},
		"NotASCII":        {"Basic " + enc("id_ä:s"), want{malformed: true}},
		"Empty":           {"Basic ", want{malformed: true}},
		"NoSpace":         {"Basic", want{malformed: true}},
		"DottedINotBasic": {"BASİC " + enc("a:b"), want{}},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			id, secret, ok, malformed := ParseBasic(tc.header)
			require.Equal(t, tc.want, want{id, secret, ok, malformed})
		})
	}
}

// Cross-checked with CPython's base64.b64decode (non-validating).
func TestPyB64Decode(t *testing.T) {
	t.Parallel()
	for in, out := range map[string]string{
		"dXNlcjpwYXNz":        "user:pass",
		" dXNlcjpwYXNz":       "user:pass",
		"dXNlcjpwYXNz=":       "user:pass",
		"dXNlcjpwYXM=":        "user:pas",
		"dXNl*cjpw!YXM=":      "user:pas",
		"dXNlcjpwYXM=garbage": "user:pas",
		"dXNlcjpwY=XM=":       "user:pas",
		"=dXNlcjpwYXM=":       "user:pas",
		"dXNlcjpwYQ==":        "user:pa",
		"dXNlcjpwYQ=x=":       "user:pa\x0c",
		"":                    "",
	} {
		got, ok := pyB64Decode(in)
		require.True(t, ok, in)
		require.Equal(t, out, string(got), in)
	}
	for _, in := range []string{"dXNlcjpwYXM", "dXNlcjpwYQ", "a"} {
		_, ok := pyB64Decode(in)
		require.False(t, ok, in)
	}
}

func FuzzParseBasic(f *testing.F) {
	f.Add("Basic dXNlcjpwYXNz")
	f.Add("basic =a=b=c")
	f.Fuzz(func(t *testing.T, h string) {
		id, secret, ok, malformed := ParseBasic(h)
		require.False(t, ok && malformed)
		if !ok {
			require.Empty(t, id+secret)
		}
	})
}
