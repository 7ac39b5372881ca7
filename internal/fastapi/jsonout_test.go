package fastapi

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestUnescapeHTML(t *testing.T) {
	cases := map[string]string{
		`{"a":"b"}`:                `{"a":"b"}`,
		`"\u003ca\u003e \u0026"`:   `"<a> &"`,
		`"\u2028\u2029"`:           "\"\u2028\u2029\"",
		`"\u00e9 \u003c"`:          `"\u00e9 <"`,
		`"\\u003c"`:                `"\\u003c"`, // an escaped backslash, then text
		`"\\\u003c"`:               `"\\<"`,
		`"\n\u0026\"\u003e"`:       `"\n&\">"`,
		`"tail \u00`:               `"tail \u00`,
		`"http://x/?a=1\u0026b=2"`: `"http://x/?a=1&b=2"`,
	}
	for in, want := range cases {
		require.Equal(t, want, string(UnescapeHTML([]byte(in))), in)
	}
}

func TestMarshalIsPythonJSON(t *testing.T) {
	out, err := Marshal(map[string]any{"next": "/updates?a=1&b=<2>", "s": "\u2028"})
	require.NoError(t, err)
	require.Equal(t, "{\"next\":\"/updates?a=1&b=<2>\",\"s\":\"\u2028\"}", string(out))
}
