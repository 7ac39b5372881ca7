package contact_test

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ctms-go/ctms/internal/contact"
)

func TestValidate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		patch contact.Patch
		want  []contact.Problem
	}{
		{"valid", contact.Patch{
			Newsletters: []contact.NewsletterPatch{{Name: "a"}, {Name: "b", Source: contact.Set("https://x.example/")}},
			Waitlists:   []contact.WaitlistPatch{{Name: "a", Fields: json.RawMessage(`{"geo":"fr"}`)}},
		}, nil},
		{"a name may be in both lists", contact.Patch{
			Newsletters: []contact.NewsletterPatch{{Name: "a"}}, Waitlists: []contact.WaitlistPatch{{Name: "a"}},
		}, nil},
		{"duplicate names", contact.Patch{
			Newsletters: []contact.NewsletterPatch{{Name: "a"}, {Name: "b"}, {Name: "a"}, {Name: "a"}},
			Waitlists:   []contact.WaitlistPatch{{Name: "w"}, {Name: "w"}},
		}, []contact.Problem{
			{List: "newsletters", Index: 2, Msg: "duplicate newsletter name", Input: "a"},
			{List: "newsletters", Index: 3, Msg: "duplicate newsletter name", Input: "a"},
			{List: "waitlists", Index: 1, Msg: "duplicate waitlist name", Input: "w"},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			require.Equal(t, tt.want, tt.patch.Validate())
		})
	}
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
