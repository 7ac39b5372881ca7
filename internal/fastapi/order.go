package fastapi

import (
	"bytes"
	"encoding/json"

	"github.com/ctms-go/ctms/internal/jsontext"
)

// KeepClientOrder makes the `input` of body items that are objects or lists
// the text the client sent at their location, as pydantic echoes the object
// json.loads built (its keys in the client's order, its values as sent),
// where a Go map would come out with sorted keys. loc's segments that name no
// member there (a union's tag, the missing field of a `missing` item) are
// skipped. Only called for a request that is answered 422.
func KeepClientOrder(items []ValidationItem, body []byte) {
	for i := range items {
		it := &items[i]
		switch it.Input.(type) {
		case map[string]any, []any:
		default:
			continue
		}
		if len(it.Loc) == 0 || it.Loc[0] != "body" {
			continue
		}
		if raw := rawAt(body, jsontext.SkipSpace(body, 0), it.Loc[1:]); raw != nil && sameShape(raw, it.Input) {
			var compact bytes.Buffer
			if json.Compact(&compact, raw) == nil {
				it.Input = json.RawMessage(UnescapeHTML(compact.Bytes()))
			}
		}
	}
}

// rawAt is the text of the value at path inside the value starting at b[i].
func rawAt(b []byte, i int, path []any) []byte {
	end := jsontext.ValueEnd(b, i)
	if end < 0 {
		return nil
	}
	if len(path) == 0 {
		return b[i:end]
	}
	switch b[i] {
	case '{':
		key, ok := path[0].(string)
		if !ok {
			return nil
		}
		if at := memberAt(b, i, key); at >= 0 {
			return rawAt(b, at, path[1:])
		}
		return rawAt(b, i, path[1:]) // a tag or the missing field: same value
	case '[':
		n, ok := path[0].(int)
		if !ok {
			if f, isFloat := path[0].(float64); isFloat {
				n, ok = int(f), true
			}
		}
		if !ok {
			if _, isTag := path[0].(string); isTag {
				return rawAt(b, i, path[1:])
			}
			return nil
		}
		j := jsontext.SkipSpace(b, i+1)
		for k := 0; j < end && b[j] != ']'; k++ {
			if k == n {
				return rawAt(b, j, path[1:])
			}
			if j = jsontext.ValueEnd(b, j); j < 0 {
				return nil
			}
			j = jsontext.SkipSpace(b, jsontext.SkipSpace(b, j)+1) // past the comma
		}
		return nil
	}
	if _, isTag := path[0].(string); isTag {
		return rawAt(b, i, path[1:])
	}
	return nil
}

// memberAt is where the value of the object's last member named key starts
// (the last of repeated names wins, as in json.loads), -1 when there is none.
func memberAt(b []byte, i int, key string) int {
	found := -1
	j := jsontext.SkipSpace(b, i+1)
	for j < len(b) && b[j] == '"' {
		kend, escaped := jsontext.StringEnd(b, j)
		if kend < 0 {
			return -1
		}
		name := string(b[j+1 : kend-1])
		if escaped {
			if json.Unmarshal(b[j:kend], &name) != nil {
				return -1
			}
		}
		v := jsontext.SkipSpace(b, jsontext.SkipSpace(b, kend)+1) // past the colon
		if name == key {
			found = v
		}
		vend := jsontext.ValueEnd(b, v)
		if vend < 0 {
			return -1
		}
		j = jsontext.SkipSpace(b, vend)
		if j < len(b) && b[j] == ',' {
			j = jsontext.SkipSpace(b, j+1)
		}
	}
	return found
}

// sameShape tells whether raw is the value v was decoded from, as far as
// its shape goes: an object with the same keys, a list of the same length
// (values may differ: lax booleans were coerced in v, not in raw).
func sameShape(raw []byte, v any) bool {
	var sent any
	if json.Unmarshal(raw, &sent) != nil {
		return false
	}
	switch x := v.(type) {
	case map[string]any:
		m, ok := sent.(map[string]any)
		if !ok || len(m) != len(x) {
			return false
		}
		for k := range x {
			if _, ok := m[k]; !ok {
				return false
			}
		}
		return true
	case []any:
		l, ok := sent.([]any)
		return ok && len(l) == len(x)
	}
	return false
}
