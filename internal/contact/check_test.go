package contact_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ctms-go/ctms/internal/contact"
)

func TestValidate(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("x", 101)
	type problem struct {
		kind  contact.ProblemKind
		list  string
		index int
		field string
		msg   string
	}
	tests := []struct {
		name  string
		patch contact.Patch
		want  []problem
	}{
		{"valid", contact.Patch{
			Newsletters: []contact.NewsletterPatch{{Name: "a"}, {Name: "b", Source: contact.Set("https://x.example/")}},
			Waitlists:   []contact.WaitlistPatch{{Name: "a", Fields: json.RawMessage(`{"geo":"fr"}`)}},
		}, nil},
		{"a name may be in both lists", contact.Patch{
			Newsletters: []contact.NewsletterPatch{{Name: "a"}}, Waitlists: []contact.WaitlistPatch{{Name: "a"}},
		}, nil},
		{"duplicate names", contact.Patch{
			Newsletters: []contact.NewsletterPatch{{Name: "a"}, {Name: "b"}, {Name: "a"}},
			Waitlists:   []contact.WaitlistPatch{{Name: "w"}, {Name: "w"}},
		}, []problem{
			{contact.DuplicateName, "newsletters", 2, "name", "duplicate newsletter name"},
			{contact.DuplicateName, "waitlists", 1, "name", "duplicate waitlist name"},
		}},
		{"sources", contact.Patch{
			Newsletters: []contact.NewsletterPatch{{Name: "a", Source: contact.Set("foobar")}, {Name: "b", Source: contact.Set("http://")}},
			Waitlists:   []contact.WaitlistPatch{{Name: "w", Source: contact.Set("")}},
		}, []problem{
			{contact.InvalidSource, "newsletters", 0, "source", "relative URL without a base"},
			{contact.InvalidSource, "newsletters", 1, "source", "empty host"},
			{contact.InvalidSource, "waitlists", 0, "source", "relative URL without a base"},
		}},
		{"each item's problems in order: name, source, fields", contact.Patch{
			Waitlists: []contact.WaitlistPatch{
				{Name: "vpn", Fields: json.RawMessage(`{"geo":"` + long + `"}`)},
				{Name: "vpn", Source: contact.Set("foobar"), Fields: json.RawMessage(`{"extra":1}`)},
			},
		}, []problem{
			{contact.BrokenFieldRule, "waitlists", 0, "geo", "String should have at most 100 characters"},
			{contact.DuplicateName, "waitlists", 1, "name", "duplicate waitlist name"},
			{contact.InvalidSource, "waitlists", 1, "source", "relative URL without a base"},
			{contact.BrokenFieldRule, "waitlists", 1, "extra", "Extra inputs are not permitted"},
		}},
		{"fields that are no object", contact.Patch{Waitlists: []contact.WaitlistPatch{{Name: "a", Fields: json.RawMessage(`[]`)}}},
			[]problem{{contact.BrokenFieldRule, "waitlists", 0, "", "Input should be a valid dictionary"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var got []problem
			for _, p := range tt.patch.Validate(referenceRules()) {
				got = append(got, problem{p.Kind, p.List, p.Index, p.Field, p.Msg})
				require.Equal(t, p.Kind == contact.BrokenFieldRule, p.Rule != nil)
			}
			require.Equal(t, tt.want, got)
		})
	}
}

func TestValidateNormalisesSources(t *testing.T) {
	t.Parallel()
	p := contact.Patch{
		Newsletters: []contact.NewsletterPatch{{Name: "a", Source: contact.Set("HTTP://Example.COM:80/a b")}, {Name: "b", Source: contact.Clear[string]()}},
		Waitlists:   []contact.WaitlistPatch{{Name: "w", Source: contact.Set("https://bücher.example")}},
	}
	require.Empty(t, p.Validate(nil))
	require.Equal(t, contact.Set("http://example.com/a%20b"), p.Newsletters[0].Source)
	require.Equal(t, contact.Clear[string](), p.Newsletters[1].Source, "null stays null")
	require.Equal(t, contact.Set("https://xn--bcher-kva.example/"), p.Waitlists[0].Source)
}

func TestNormaliseSource(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"http://localhost:8888/v1":      "http://localhost:8888/v1",
		"HTTPS://WWW.Example.com:443/a": "https://www.example.com/a",
		"  https://example.com/x y  ":   "https://example.com/x%20y",
		"mailto:a@b.c":                  "mailto:a@b.c",
	} {
		got, why := contact.NormaliseSource(in)
		require.Empty(t, why, in)
		require.Equal(t, want, got, in)
	}
	for in, want := range map[string]string{"foobar": "relative URL without a base", "http://": "empty host", "*&^": "relative URL without a base"} {
		_, why := contact.NormaliseSource(in)
		require.Equal(t, want, why, in)
	}
}
