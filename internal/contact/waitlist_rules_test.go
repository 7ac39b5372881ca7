package contact_test

import (
	"encoding/json"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ctms-go/ctms/internal/contact"
)

// referenceRules are the rules the migrations seed (the Python CTMS's).
func referenceRules() contact.FieldRules {
	hundred := 100
	return contact.FieldRules{
		{Waitlist: "*", Field: "geo", MaxLength: &hundred},
		{Waitlist: "*", Field: "platform", MaxLength: &hundred},
		{Waitlist: "relay", Field: "geo", MaxLength: &hundred, ExtraForbidden: true},
		{Waitlist: "vpn", Field: "geo", MaxLength: &hundred, ExtraForbidden: true},
		{Waitlist: "vpn", Field: "platform", MaxLength: &hundred, ExtraForbidden: true},
	}
}

func TestFieldRulesReference(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("x", 101)
	tests := []struct {
		name, waitlist, fields string
		problems               []string // "field:type"
	}{
		{"OtherWaitlistAnyField", "a", `{"foo":"bar","geo":"br"}`, nil},
		{"VpnGeoPlatform", "vpn", `{"geo":"b","platform":""}`, nil},
		{"NullsAllowed", "vpn", `{"geo":null,"platform":null}`, nil},
		{"GeoTooLong", "a", `{"geo":"` + long + `"}`, []string{"geo:string_too_long"}},
		{"PlatformTooLong", "a", `{"platform":"` + long + `"}`, []string{"platform:string_too_long"}},
		{"GeoNotString", "a", `{"geo":3}`, []string{"geo:string_type"}},
		{"RelayExtra", "relay", `{"foo":"bar"}`, []string{"foo:extra_forbidden"}},
		{"RelayPlatformIsExtra", "relay", `{"platform":"x"}`, []string{"platform:extra_forbidden"}},
		{"VpnExtra", "vpn", `{"geo":"b","platform":"win64","extra":"boom"}`, []string{"extra:extra_forbidden"}},
		{"RelayPrefixIsNotRelay", "relay-vpn", `{"foo":"bar"}`, nil},
		{"OtherKeysAnyType", "a", `{"n":1,"l":[1],"o":{}}`, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var got []string
			for _, p := range referenceRules().Check(tt.waitlist, json.RawMessage(tt.fields)) {
				got = append(got, p.Field+":"+p.Type)
				// pydantic's own messages, without a hint the Python CTMS never gives.
				require.NotContains(t, p.Msg, "(waitlist", "pydantic's message alone")
			}
			require.Equal(t, tt.problems, got)
		})
	}
}

func TestFieldRulesPatternAndAllowedValues(t *testing.T) {
	t.Parallel()
	rules := append(referenceRules(),
		contact.FieldRule{Waitlist: "beta", Field: "color", AllowedValues: []string{"red", "blue"}},
		contact.FieldRule{Waitlist: "*", Field: "code", Pattern: regexp.MustCompile(`^[A-Z]{2}$`)},
		contact.FieldRule{Waitlist: "vpn", Field: "geo", MaxLength: new(2), ExtraForbidden: true}, // overrides '*' geo
	)
	check := func(w, f string) []contact.FieldProblem { return rules.Check(w, json.RawMessage(f)) }
	require.Empty(t, check("beta", `{"color":"red","code":"FR"}`))
	p := check("beta", `{"color":"green"}`)
	require.Len(t, p, 1)
	require.Equal(t, "literal_error", p[0].Type)
	require.Equal(t, "Input should be one of 'red', 'blue' (waitlist 'beta', field 'color')", p[0].Msg)
	p = check("other", `{"code":"fra"}`)
	require.Len(t, p, 1)
	require.Equal(t, "string_pattern_mismatch", p[0].Type)
	p = check("vpn", `{"geo":"abc"}`)
	require.Len(t, p, 1)
	require.Equal(t, "String should have at most 2 characters", p[0].Msg)
	// A closed waitlist does not take '*' fields it has no rule for.
	p = check("vpn", `{"code":"FR"}`)
	require.Len(t, p, 1)
	require.Equal(t, "extra_forbidden", p[0].Type)
}
