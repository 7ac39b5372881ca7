package httpapi

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strings"

	"github.com/getkin/kin-openapi/openapi3"
)

// Pydantic validates in "lax" mode (§4.1): where a boolean is expected it also
// takes 0 and 1 and, in any case, the strings true/false, t/f, yes/no, y/n,
// on/off, 1/0. The schema validator is strict, so such values are turned into
// JSON booleans first. Everything else in the body is left byte for byte
// (waitlist fields are stored verbatim).

// laxBool reads a lax boolean; ok is false for anything else.
func laxBool(v any) (b, ok bool) {
	switch x := v.(type) {
	case bool:
		return x, true
	case json.Number:
		switch x.String() {
		case "0", "0.0":
			return false, true
		case "1", "1.0":
			return true, true
		}
	case string:
		switch strings.ToLower(x) {
		case "0", "f", "n", "no", "off", "false":
			return false, true
		case "1", "t", "y", "yes", "on", "true":
			return true, true
		}
	}
	return false, false
}

// laxQuery rewrites lax values of boolean query parameters as true/false.
func laxQuery(r *http.Request, op *openapi3.Operation) {
	q := r.URL.Query()
	changed := false
	for _, p := range op.Parameters {
		v := p.Value
		if v.In != "query" || v.Schema == nil || v.Schema.Value == nil || !v.Schema.Value.Type.Is("boolean") {
			continue
		}
		for i, s := range q[v.Name] {
			if b, ok := laxBool(s); ok && s != "true" && s != "false" {
				q[v.Name][i] = map[bool]string{true: "true", false: "false"}[b]
				changed = true
			}
		}
	}
	if changed {
		r.URL.RawQuery = q.Encode()
	}
}

// laxBody returns data with the lax booleans of a JSON body (described by
// schema) written as JSON booleans; changed is false when there are none.
func laxBody(data []byte, schema *openapi3.Schema) (out []byte, changed bool) {
	w := &laxWalker{dec: json.NewDecoder(bytes.NewReader(data)), data: data}
	w.dec.UseNumber()
	if w.value(schema) != nil || len(w.edits) == 0 {
		return data, false
	}
	last := 0
	for _, e := range w.edits {
		out = append(append(out, data[last:e.start]...), e.text...)
		last = e.end
	}
	return append(out, data[last:]...), true
}

type laxEdit struct {
	start, end int
	text       string
}

type laxWalker struct {
	dec   *json.Decoder
	data  []byte
	edits []laxEdit
}

// value walks one JSON value whose schema is s (nil: unknown, nothing to coerce).
func (w *laxWalker) value(s *openapi3.Schema) error {
	start := int(w.dec.InputOffset())
	for start < len(w.data) && strings.IndexByte(" \t\r\n:,", w.data[start]) >= 0 {
		start++
	}
	tok, err := w.dec.Token()
	if err != nil {
		return err
	}
	switch tok {
	case json.Delim('{'):
		obj := schemaFor(s, "object")
		for w.dec.More() {
			key, err := w.dec.Token()
			if err != nil {
				return err
			}
			var prop *openapi3.Schema
			if obj != nil {
				if ref := obj.Properties[key.(string)]; ref != nil {
					prop = ref.Value
				}
			}
			if err := w.value(prop); err != nil {
				return err
			}
		}
		_, err = w.dec.Token()
		return err
	case json.Delim('['):
		var items *openapi3.Schema
		if list := schemaFor(s, "array"); list != nil && list.Items != nil {
			items = list.Items.Value
		}
		for w.dec.More() {
			if err := w.value(items); err != nil {
				return err
			}
		}
		_, err = w.dec.Token()
		return err
	}
	if _, isBool := tok.(bool); !isBool && schemaFor(s, "boolean") != nil {
		if b, ok := laxBool(tok); ok {
			w.edits = append(w.edits, laxEdit{start, int(w.dec.InputOffset()), map[bool]string{true: "true", false: "false"}[b]})
		}
	}
	return nil
}

// schemaFor finds in s the schema of a value of the given JSON type, looking
// through allOf wrappers and oneOf alternatives; nil when there is none.
func schemaFor(s *openapi3.Schema, typ string) *openapi3.Schema {
	if s == nil {
		return nil
	}
	if s.Type.Is(typ) {
		return s
	}
	for _, alts := range []openapi3.SchemaRefs{s.AllOf, s.OneOf, s.AnyOf} {
		for _, alt := range alts {
			if found := schemaFor(alt.Value, typ); found != nil {
				return found
			}
		}
	}
	return nil
}

// laxRequestBody puts the coerced body of a JSON operation in place.
func laxRequestBody(r *http.Request, op *openapi3.Operation, data []byte) {
	mt := op.RequestBody.Value.Content.Get("application/json")
	if mt == nil || mt.Schema == nil {
		return
	}
	if out, changed := laxBody(data, mt.Schema.Value); changed {
		r.Body = io.NopCloser(bytes.NewReader(out))
		r.ContentLength = int64(len(out))
	}
}

// verbatimBody is a request body carrying the validated value for the
// generated binder (runtime.BindJSONBody), as kin-openapi's KeepValidatedValue
// leaves it, but with every waitlist's fields as the original JSON text: the
// binder would otherwise re-encode them from a map, losing their key order,
// and they are stored verbatim (as the Python CTMS stores them).
type verbatimBody struct {
	io.ReadCloser
	value any
}

func (b verbatimBody) ValidatedValue() any { return b.value }

// keepFieldsVerbatim swaps the validated value of r's body for one whose
// waitlists[].fields are the original bytes of data.
func keepFieldsVerbatim(r *http.Request, data []byte) {
	vb, ok := r.Body.(interface{ ValidatedValue() any })
	if !ok {
		return
	}
	body, ok := vb.ValidatedValue().(map[string]any)
	if !ok {
		return
	}
	list, ok := body["waitlists"].([]any)
	if !ok {
		return
	}
	raw := waitlistFieldsText(data)
	if len(raw) != len(list) {
		return
	}
	for i, item := range list {
		if m, ok := item.(map[string]any); ok && raw[i] != nil {
			if _, has := m["fields"]; has {
				m["fields"] = raw[i]
			}
		}
	}
	r.Body = verbatimBody{ReadCloser: r.Body, value: body}
}

// waitlistFieldsText is the original text of the fields of each item of the
// body's waitlists (nil where there is none); nil when waitlists is no list.
func waitlistFieldsText(data []byte) []json.RawMessage {
	var body struct {
		Waitlists json.RawMessage `json:"waitlists"`
	}
	if json.Unmarshal(data, &body) != nil {
		return nil
	}
	return itemFieldsText(body.Waitlists)
}

// itemFieldsText is the original text of "fields" of each object of a JSON list.
func itemFieldsText(list json.RawMessage) []json.RawMessage {
	var items []map[string]json.RawMessage
	if json.Unmarshal(list, &items) != nil {
		return nil
	}
	out := make([]json.RawMessage, len(items))
	for i, it := range items {
		out[i] = it["fields"]
	}
	return out
}
