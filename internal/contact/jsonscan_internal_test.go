package contact

import (
	"encoding/json"
	"regexp"
	"testing"

	"github.com/stretchr/testify/require"
)

var fieldsSeeds = []string{
	`{}`, `{"geo":"fr","platform":"ios,mac"}`, ` { "geo" : "fr" , "n" : [1, {"a":"}"}] } `, `{"geo":null}`, `{"geo":3}`,
	`{"geo":"f\"r"}`, `{"g\u0065o":"fr"}`, `{"geo":"fr","geo":"de"}`, `[]`, `"geo"`, `null`, `{"geo":"fr"`, `{"geo":tru}`,
	`{"color":"red","code":"FR"}`, `{"extra":true}`, `{"geo":"éé"}`, "{\"geo\":\"\xff\"}", `{"a":-1.5e3,"b":false}`,
}

// The scan agrees with decoding into a map wherever it answers.
func FuzzMemberText(f *testing.F) {
	for _, s := range fieldsSeeds {
		f.Add(s, "geo")
	}
	f.Fuzz(func(t *testing.T, fields, key string) {
		text, ok := memberText([]byte(fields), key)
		if !ok {
			return
		}
		var m map[string]json.RawMessage
		if json.Unmarshal([]byte(fields), &m) != nil {
			require.Nil(t, text, "not an object")
			return
		}
		want, found := m[key]
		require.Equal(t, found, text != nil)
		if found {
			var x, y any
			require.NoError(t, json.Unmarshal(want, &x))
			require.NoError(t, json.Unmarshal(text, &y))
			require.Equal(t, x, y)
		}
	})
}

func fuzzRules() FieldRules {
	return append(FieldRules{
		{Waitlist: "*", Field: "geo", MaxLength: new(3)},
		{Waitlist: "*", Field: "platform", MaxLength: new(100)},
		{Waitlist: "vpn", Field: "geo", MaxLength: new(100), ExtraForbidden: true},
		{Waitlist: "vpn", Field: "platform", MaxLength: new(100), ExtraForbidden: true},
		{Waitlist: "beta", Field: "color", AllowedValues: []string{"red", "blue"}},
	}, FieldRule{Waitlist: "*", Field: "code", Pattern: regexp.MustCompile(`^[A-Z]{2}$`)})
}

// What the scan finds valid, decoding finds valid.
func FuzzFieldRulesCheck(f *testing.F) {
	for _, s := range fieldsSeeds {
		for _, w := range []string{"vpn", "beta", "other"} {
			f.Add(w, s)
		}
	}
	rules := fuzzRules()
	f.Fuzz(func(t *testing.T, waitlist, fields string) {
		if rules.allValid(waitlist, json.RawMessage(fields)) {
			require.Empty(t, rules.problems(waitlist, json.RawMessage(fields)))
		}
	})
}

func TestFieldRulesScanAgrees(t *testing.T) {
	t.Parallel()
	rules := fuzzRules()
	for _, w := range []string{"vpn", "beta", "other"} {
		for _, s := range fieldsSeeds {
			require.Equal(t, rules.problems(w, json.RawMessage(s)), rules.Check(w, json.RawMessage(s)), "%s %s", w, s)
		}
	}
}
