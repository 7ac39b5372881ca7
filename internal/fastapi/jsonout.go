package fastapi

import (
	"bytes"
	"encoding/json"
	"unicode/utf8"
)

// Python's json module, which writes the Python CTMS's responses, escapes
// neither <, >, & nor U+2028 and U+2029 (encoding/json does, for HTML), and
// FastAPI ends a body without a newline (json.Encoder adds one).

// Marshal writes v as compact JSON, as the Python CTMS does.
func Marshal(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return UnescapeHTML(bytes.TrimSuffix(buf.Bytes(), []byte("\n"))), nil // U+2028, U+2029
}

// htmlEscapes are the escapes encoding/json writes for HTML safety, and the
// characters they stand for.
var htmlEscapes = map[string]rune{`\u003c`: '<', `\u003e`: '>', `\u0026`: '&', `\u2028`: '\u2028', `\u2029`: '\u2029'}

// UnescapeHTML undoes encoding/json's HTML-safe escapes in JSON text; b itself
// when there are none. Any other escape is kept (an escaped backslash before
// "u" is a backslash, never the start of an escape).
func UnescapeHTML(b []byte) []byte {
	if !bytes.Contains(b, []byte(`\u`)) {
		return b
	}
	var out []byte
	i, last := 0, 0 // b[last:i] is still to copy
	for i < len(b) {
		j := bytes.IndexByte(b[i:], '\\')
		if j < 0 {
			break
		}
		i += j
		if i+6 <= len(b) && b[i+1] == 'u' {
			if r, ok := htmlEscapes[string(b[i:i+6])]; ok {
				if out == nil {
					out = make([]byte, 0, len(b))
				}
				out = utf8.AppendRune(append(out, b[last:i]...), r)
				i += 6
				last = i
				continue
			}
		}
		i += 2 // an escape kept as is (\\, \", \n, another \u...)
	}
	if out == nil {
		return b
	}
	return append(out, b[last:]...)
}
