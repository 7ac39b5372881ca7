package httpapi

import "encoding/json"

// itemFieldsText is the original text of "fields" of each object of a JSON list
// (PATCH reads the waitlists' fields as sent from the bound union, patch.go).
// Request bodies are otherwise decoded once, in internal/fastapi (stages.go).
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
