package fastapi

import (
	"bytes"
	"context"
	"encoding/json"

	"github.com/ctms-go/ctms/internal/jsontext"
)

// KeepClientOrder makes the `input` of body items that are objects or lists
// the text the client sent at their location, as pydantic echoes the object
// json.loads built (its keys in the client's order, its values as sent),
// where a Go map would come out with sorted keys. loc's segments that name no
// member there (a union's tag, the missing field of a `missing` item) are
// skipped. Only called for a request that is answered 422.
//
// A refused body may have hundreds of thousands of items (pydantic reports
// them all): the body is indexed once (bodyIndex), so that each item costs
// the length of its loc and of its input, never a rescan of the body.
func KeepClientOrder(ctx context.Context, items []ValidationItem, body []byte) error {
	idx := bodyIndex{b: body, containers: map[int]*container{}}
	root := jsontext.SkipSpace(body, 0)
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
		if err := ctx.Err(); err != nil {
			return err
		}
		if raw := idx.rawAt(root, it.Loc[1:]); raw != nil && sameShape(raw, it.Input) {
			var compact bytes.Buffer
			if json.Compact(&compact, raw) == nil {
				it.Input = json.RawMessage(UnescapeHTML(compact.Bytes()))
			}
		}
	}
	return nil
}

// bodyIndex finds values in a body by their loc. Each object or array on the
// way to an item's input is read once, when first crossed: where its members
// or elements start. The items' locs follow the schema, so only that many
// levels are indexed and the whole costs a few passes over the body.
type bodyIndex struct {
	b          []byte
	containers map[int]*container // by the offset of their opening bracket
}

// container is where the values of an object's members (the last of repeated
// names, as in json.loads) or of an array's elements start.
type container struct {
	members map[string]int
	elems   []int
}

// rawAt is the text of the value at path inside the value starting at b[i],
// nil when there is none.
func (x *bodyIndex) rawAt(i int, path []any) []byte {
	b := x.b
	for ; len(path) > 0; path = path[1:] {
		if i >= len(b) {
			return nil
		}
		switch seg := path[0].(type) {
		case string:
			if b[i] != '{' {
				continue // a union's tag: the same value
			}
			c := x.container(i)
			if c == nil {
				return nil
			}
			if at, ok := c.members[seg]; ok {
				i = at
			} // else a tag or the missing field: the same value
		case int, float64:
			n, _ := seg.(int)
			if f, ok := seg.(float64); ok {
				n = int(f)
			}
			if b[i] != '[' {
				return nil
			}
			c := x.container(i)
			if c == nil || n < 0 || n >= len(c.elems) {
				return nil
			}
			i = c.elems[n]
		default:
			return nil
		}
	}
	end := jsontext.ValueEnd(b, i)
	if end < 0 {
		return nil
	}
	return b[i:end]
}

// container indexes the object or array starting at b[i] (once); nil when
// its text does not read.
func (x *bodyIndex) container(i int) *container {
	if c, ok := x.containers[i]; ok {
		return c
	}
	var c *container
	if x.b[i] == '{' {
		c = x.object(i)
	} else {
		c = x.array(i)
	}
	x.containers[i] = c
	return c
}

func (x *bodyIndex) object(i int) *container {
	b := x.b
	c := &container{members: map[string]int{}}
	j := jsontext.SkipSpace(b, i+1)
	for j < len(b) && b[j] == '"' {
		kend, escaped := jsontext.StringEnd(b, j)
		if kend < 0 {
			return nil
		}
		name := string(b[j+1 : kend-1])
		if escaped && json.Unmarshal(b[j:kend], &name) != nil {
			return nil
		}
		v := jsontext.SkipSpace(b, jsontext.SkipSpace(b, kend)+1) // past the colon
		c.members[name] = v
		vend := jsontext.ValueEnd(b, v)
		if vend < 0 {
			return nil
		}
		j = jsontext.SkipSpace(b, vend)
		if j < len(b) && b[j] == ',' {
			j = jsontext.SkipSpace(b, j+1)
		}
	}
	return c
}

func (x *bodyIndex) array(i int) *container {
	b := x.b
	c := &container{}
	j := jsontext.SkipSpace(b, i+1)
	for j < len(b) && b[j] != ']' {
		c.elems = append(c.elems, j)
		end := jsontext.ValueEnd(b, j)
		if end < 0 {
			return nil
		}
		j = jsontext.SkipSpace(b, end)
		if j < len(b) && b[j] == ',' {
			j = jsontext.SkipSpace(b, j+1)
		}
	}
	return c
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
