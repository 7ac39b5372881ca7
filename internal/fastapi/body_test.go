package fastapi

import (
	"bytes"
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/require"
)

// expandRaw is v with the objects DecodeBody keeps as text (waitlist fields) decoded.
func expandRaw(v any) any {
	switch x := v.(type) {
	case json.RawMessage:
		d, _ := decodeStd(x)
		return d
	case map[string]any:
		for k, m := range x {
			x[k] = expandRaw(m)
		}
	case []any:
		for i, m := range x {
			x[i] = expandRaw(m)
		}
	}
	return v
}

// decodeStd is what DecodeBody must match: encoding/json with UseNumber, and
// json.Valid for what is a document.
func decodeStd(data []byte) (any, bool) {
	if !json.Valid(data) {
		return nil, false
	}
	var v any
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	if dec.Decode(&v) != nil {
		return nil, false
	}
	return v, true
}

var bodyCases = []string{
	`{}`, `[]`, ` { } `, `{"a":1}`, `{"a":-0.5e+10,"b":[true,false,null],"c":{"d":"x"}}`,
	`"text"`, `12`, `-0`, `0.0`, `1E3`, `null`, `true`,
	`{"a":1,"a":2}`, `{"é":"ü\u00e9\n\"\\\/"}`, `"\ud83d\ude00"`, `"\ud800"`, "\"\xff\xfe\"",
	// not documents
	``, ` `, `{`, `}`, `{"a"}`, `{"a":}`, `{"a":1,}`, `[1,]`, `[1 2]`, `{} {}`, `{}x`, `01`, `-`, `1.`, `1e`, `.5`,
	`tru`, `truex`, `nul`, `"abc`, "\"a\tb\"", `"\x"`, `"\u12"`, `{1:2}`, `{"a" 1}`, `[`, `]`, `+1`, `NaN`,
}

func TestDecodeBodyMatchesEncodingJSON(t *testing.T) {
	for _, c := range bodyCases {
		want, valid := decodeStd([]byte(c))
		got, err := DecodeBody([]byte(c))
		require.Equal(t, valid, err == nil, "%q", c)
		if valid {
			require.Equal(t, want, expandRaw(got), "%q", c)
		}
	}
}

func FuzzDecodeBody(f *testing.F) {
	for _, c := range bodyCases {
		f.Add([]byte(c))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		want, valid := decodeStd(data)
		got, err := DecodeBody(data)
		if valid != (err == nil) {
			t.Fatalf("%q: json.Valid %v, DecodeBody error %v", data, valid, err)
		}
		if valid {
			require.Equal(t, want, expandRaw(got), "%q", data)
		}
	})
}

func TestDecodeBodyKeepsWaitlistFieldsAsSent(t *testing.T) {
	cases := []struct {
		body string
		want []string // the fields of each waitlist ("" for none, "null" for a null)
	}{
		{`{"waitlists":[{"name":"vpn","fields":{ "z": 1, "a" : [2] }}]}`, []string{`{ "z": 1, "a" : [2] }`}},
		{`{"waitlists":[{"name":"a"},{"name":"b","fields":null}]}`, []string{"", `null`}},
		{`{"waitlists":[{"fields":{"x":1}}],"waitlists":[{"fields":{"y":2}}]}`, []string{`{"y":2}`}},
		{`{"waitlists":[{"fields":{"a":1},"fields":{"b":2}}]}`, []string{`{"b":2}`}},
		// Only body.waitlists[].fields: not elsewhere, nor a nested waitlists.
		{`{"other":[{"fields":{"a":1}}],"waitlists":[{"fields":{"waitlists":[{"fields":{}}]}}]}`,
			[]string{`{"waitlists":[{"fields":{}}]}`}},
	}
	for _, c := range cases {
		d, err := DecodeBody([]byte(c.body))
		require.NoError(t, err, c.body)
		body := d.(map[string]any)
		list := body["waitlists"].([]any)
		require.Len(t, list, len(c.want), c.body)
		for i, w := range c.want {
			f, has := list[i].(map[string]any)["fields"]
			switch w {
			case "":
				require.False(t, has, c.body)
				continue
			case "null":
				require.Nil(t, f, c.body)
				continue
			}
			require.Equal(t, json.RawMessage(w), f, c.body)
		}
		if other, ok := body["other"].([]any); ok {
			require.IsType(t, map[string]any{}, other[0].(map[string]any)["fields"])
		}
	}
}

func TestJSONInvalidPosition(t *testing.T) {
	for body, at := range map[string]int64{`{"a":}`: 5, `{"a":1`: 6, `{"é":x}`: 5, ``: 0, `[1,]`: 3} {
		item := JSONInvalid([]byte(body))
		require.Equal(t, []any{"body", at}, item.Loc, body)
		require.Equal(t, "json_invalid", item.Type)
	}
}

// pydantic-core's lax bool (validate_bool of a Python input, as FastAPI gives
// it what json.loads built): a bool; a string of str_as_bool; an int 0 or 1
// (int_as_bool); a float that float_as_int reads as an int of i64, then 0 or 1.
// Other ints (of i64) and such floats are bool_parsing; non-integral floats,
// infinities and ints beyond i64 are bool_type.
func TestLaxBool(t *testing.T) {
	cases := []struct {
		in       any
		want, ok bool
	}{
		{true, true, true}, {false, false, true},
		{json.Number("1"), true, true}, {json.Number("0"), false, true}, {json.Number("1.0"), true, true},
		{json.Number("0.0"), false, true}, {json.Number("2"), false, false},
		{json.Number("1e0"), true, true}, {json.Number("1.00"), true, true}, {json.Number("1E0"), true, true},
		{json.Number("-0"), false, true}, {json.Number("-0.0"), false, true}, {json.Number("0e5"), false, true},
		{json.Number("10e-1"), true, true}, {json.Number("1.0000000000000001"), true, true}, // float('1.0000000000000001') == 1.0
		{json.Number("1.5"), false, false}, {json.Number("-1"), false, false}, {json.Number("1e400"), false, false},
		{"yes", true, true}, {"Y", true, true}, {"on", true, true}, {"T", true, true}, {"TRUE", true, true}, {"1", true, true},
		{"no", false, true}, {"N", false, true}, {"off", false, true}, {"f", false, true}, {"False", false, true}, {"0", false, true},
		{"", false, false}, {"maybe", false, false}, {"1.0", false, false}, {nil, false, false}, {map[string]any{}, false, false},
	}
	for _, c := range cases {
		b, ok := LaxBool(c.in)
		require.Equal(t, c.ok, ok, "%#v", c.in)
		require.Equal(t, c.want, b, "%#v", c.in)
	}
}

// The error type of what is no lax bool, as pydantic-core's validate_bool says.
func TestLaxBoolErrorTypes(t *testing.T) {
	m := walkModel(t)
	for in, want := range map[string]string{
		`2`: "bool_parsing", `-1`: "bool_parsing", `9223372036854775807`: "bool_parsing", `2.0`: "bool_parsing", `2e0`: "bool_parsing",
		`"maybe"`: "bool_parsing", `"1.0"`: "bool_parsing",
		`1.5`: "bool_type", `0.1`: "bool_type", `1e400`: "bool_type", `-1e400`: "bool_type", `1e19`: "bool_type",
		`9223372036854775808`: "bool_type", `-9223372036854775809`: "bool_type", `{}`: "bool_type", `[]`: "bool_type",
	} {
		_, items, err := check(t, m, `{"zeta":"a","alpha":`+in+`}`)
		require.NoError(t, err)
		require.Len(t, items, 1, in)
		require.Equal(t, want, items[0].Type, in)
	}
}
