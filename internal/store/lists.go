package store

// The newsletters and waitlists of a contact arrive as JSON arrays built by the
// contact queries (sql/queries/contacts.sql: json_agg of json_build_object).
// Decoding them with encoding/json was the largest cost of a page of /updates
// in the server (reflection, a map of fields per item, allocations), so they are
// scanned directly: that text has one known shape. Anything the scan does not
// expect is decoded with encoding/json instead, which stays the reference
// (FuzzDecodeLists checks that both agree).

import (
	"encoding/json"
	"fmt"
	"time"
	"unicode/utf8"

	"github.com/ctms-go/ctms/internal/contact"
	"github.com/ctms-go/ctms/internal/jsontext"
)

func decodeNewsletters(text []byte) ([]contact.Newsletter, error) {
	list := make([]contact.Newsletter, 0, 4)
	var item *contact.Newsletter
	ok := eachMember(text, func() {
		list = append(list, contact.Newsletter{Subscribed: true, Format: contact.DefaultNewsletterFormat})
		item = &list[len(list)-1]
	}, func(name, value []byte) bool {
		switch string(name) { // no allocation: the compiler compares the bytes
		case "name":
			return setString(&item.Name, value)
		case "subscribed":
			return setBool(&item.Subscribed, value, true)
		case "format":
			return setString(&item.Format, value) || isNull(value) // null: the default
		case "lang":
			return setOptString(&item.Lang, value)
		case "source":
			return setOptString(&item.Source, value)
		case "unsub_reason":
			return setOptString(&item.UnsubReason, value)
		case "create_timestamp":
			return setTime(&item.CreateTimestamp, value)
		case "update_timestamp":
			return setTime(&item.UpdateTimestamp, value)
		}
		return false
	})
	if ok {
		return list, nil
	}
	return decodeNewslettersJSON(text)
}

func decodeWaitlists(text []byte) ([]contact.Waitlist, error) {
	list := make([]contact.Waitlist, 0, 2)
	var item *contact.Waitlist
	ok := eachMember(text, func() {
		list = append(list, contact.Waitlist{Subscribed: true})
		item = &list[len(list)-1]
	}, func(name, value []byte) bool {
		switch string(name) { // no allocation: the compiler compares the bytes
		case "name":
			return setString(&item.Name, value)
		case "source":
			return setOptString(&item.Source, value)
		case "fields":
			item.Fields = json.RawMessage(value)
			return json.Valid(value) // kept as text: jsontext.ValueEnd only matched it
		case "subscribed":
			return setBool(&item.Subscribed, value, true)
		case "unsub_reason":
			return setOptString(&item.UnsubReason, value)
		case "create_timestamp":
			return setTime(&item.CreateTimestamp, value)
		case "update_timestamp":
			return setTime(&item.UpdateTimestamp, value)
		}
		return false
	})
	if ok {
		return list, nil
	}
	return decodeWaitlistsJSON(text)
}

// eachMember calls object at the start of every object of the JSON array text,
// and member for each of its members with the member's name and the text of its
// value. It returns false, at once, when text is not an array of objects with
// plain member names, or when member returns false.
func eachMember(text []byte, object func(), member func(name, value []byte) bool) bool {
	j := jsontext.SkipSpace(text, 0)
	if j == len(text) || text[j] != '[' {
		return false
	}
	j = jsontext.SkipSpace(text, j+1)
	for i := 0; j < len(text) && text[j] != ']'; i++ {
		if i > 0 {
			if text[j] != ',' {
				return false
			}
			j = jsontext.SkipSpace(text, j+1)
		}
		if j == len(text) || text[j] != '{' {
			return false
		}
		object()
		j = jsontext.SkipSpace(text, j+1)
		for first := true; j < len(text) && text[j] != '}'; first = false {
			if !first {
				if text[j] != ',' {
					return false
				}
				j = jsontext.SkipSpace(text, j+1)
			}
			end, escaped := jsontext.StringEnd(text, j)
			if end < 0 || escaped {
				return false
			}
			name := text[j+1 : end-1]
			if j = jsontext.SkipSpace(text, end); j == len(text) || text[j] != ':' {
				return false
			}
			j = jsontext.SkipSpace(text, j+1)
			vend := jsontext.ValueEnd(text, j)
			if vend < 0 || !member(name, text[j:vend]) {
				return false
			}
			j = jsontext.SkipSpace(text, vend)
		}
		if j == len(text) {
			return false
		}
		j = jsontext.SkipSpace(text, j+1) // past '}'
	}
	return j < len(text) && jsontext.SkipSpace(text, j+1) == len(text)
}

func isNull(v []byte) bool { return string(v) == "null" }

// setString takes a JSON string without escapes, of valid UTF-8 (anything else:
// false, and encoding/json decodes the list).
func setString(dst *string, v []byte) bool {
	if end, escaped := jsontext.StringEnd(v, 0); end != len(v) || escaped || !utf8.Valid(v) {
		return false
	}
	*dst = string(v[1 : len(v)-1])
	return true
}

func setOptString(dst **string, v []byte) bool {
	if isNull(v) {
		*dst = nil
		return true
	}
	var s string
	if !setString(&s, v) {
		return false
	}
	*dst = &s
	return true
}

// setBool takes true, false, or null (which reads as def).
func setBool(dst *bool, v []byte, def bool) bool {
	switch string(v) {
	case "true":
		*dst = true
	case "false":
		*dst = false
	case "null":
		*dst = def
	default:
		return false
	}
	return true
}

func setTime(dst *time.Time, v []byte) bool {
	var s string
	if !setString(&s, v) {
		return false
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return false
	}
	*dst = t.UTC()
	return true
}

// decodeNewslettersJSON is the reference decoding of a newsletters list.
func decodeNewslettersJSON(text []byte) ([]contact.Newsletter, error) {
	var nls []struct {
		Name        string    `json:"name"`
		Subscribed  *bool     `json:"subscribed"`
		Format      *string   `json:"format"`
		Lang        *string   `json:"lang"`
		Source      *string   `json:"source"`
		UnsubReason *string   `json:"unsub_reason"`
		Created     time.Time `json:"create_timestamp"`
		Updated     time.Time `json:"update_timestamp"`
	}
	if err := json.Unmarshal(text, &nls); err != nil {
		return nil, fmt.Errorf("decode newsletters of a contact: %w", err)
	}
	list := make([]contact.Newsletter, len(nls))
	for i, n := range nls {
		list[i] = contact.Newsletter{
			Name: n.Name, Subscribed: n.Subscribed == nil || *n.Subscribed,
			Format: orDefault(n.Format, contact.DefaultNewsletterFormat), Lang: n.Lang, Source: n.Source,
			UnsubReason: n.UnsubReason, CreateTimestamp: n.Created.UTC(), UpdateTimestamp: n.Updated.UTC(),
		}
	}
	return list, nil
}

// decodeWaitlistsJSON is the reference decoding of a waitlists list.
func decodeWaitlistsJSON(text []byte) ([]contact.Waitlist, error) {
	var wls []struct {
		Name        string          `json:"name"`
		Source      *string         `json:"source"`
		Fields      json.RawMessage `json:"fields"`
		Subscribed  *bool           `json:"subscribed"`
		UnsubReason *string         `json:"unsub_reason"`
		Created     time.Time       `json:"create_timestamp"`
		Updated     time.Time       `json:"update_timestamp"`
	}
	if err := json.Unmarshal(text, &wls); err != nil {
		return nil, fmt.Errorf("decode waitlists of a contact: %w", err)
	}
	list := make([]contact.Waitlist, len(wls))
	for i, w := range wls {
		list[i] = contact.Waitlist{
			Name: w.Name, Source: w.Source, Fields: w.Fields, Subscribed: w.Subscribed == nil || *w.Subscribed,
			UnsubReason: w.UnsubReason, CreateTimestamp: w.Created.UTC(), UpdateTimestamp: w.Updated.UTC(),
		}
	}
	return list, nil
}
