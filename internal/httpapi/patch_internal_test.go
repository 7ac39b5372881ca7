package httpapi

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ctms-go/ctms/gen/api"
)

func TestHasCaseVariant(t *testing.T) {
	t.Parallel()
	for raw, want := range map[string]bool{
		`{"name":"a","subscribed":false}`:    false,
		`[{"name":"Subscribed"}]`:            true, // any string counts: the exact path is only slower
		`{"Subscribed":false}`:               true,
		`{"SUBSCRIBED":false}`:               true,
		`{"\u017fubscribed":false}`:          true, // long s folds to s
		`{"user_\u212aey":1,"username":"x"}`: false,
		`{"u\u0053er":true}`:                 true, // "uSer" once unescaped
		`{"useR_id":"x"}`:                    true,
		`{"Unknown":1,"geo":"FR"}`:           false,
		`{"fields":{"Geo":"x","Name":"y"}}`:  true,
	} {
		require.Equal(t, want, hasCaseVariant([]byte(raw)), raw)
	}
}

func TestAlternative(t *testing.T) {
	t.Parallel()
	union := func(raw string) *api.ContactPatchSchema_Newsletters {
		var u api.ContactPatchSchema_Newsletters
		require.NoError(t, json.Unmarshal([]byte(raw), &u))
		return &u
	}
	u := union(`"UNSUBSCRIBE"`)
	all, list, err := alternative(u, "UNSUBSCRIBE", u.AsNewsletterPatchList)
	require.NoError(t, err)
	require.True(t, all)
	require.Empty(t, list)

	u = union(`[{"name":"a","Subscribed":false,"Lang":"fr","lang":"de"},{"name":"b","subscribed":false}]`)
	all, list, err = alternative(u, "UNSUBSCRIBE", u.AsNewsletterPatchList)
	require.NoError(t, err)
	require.False(t, all)
	require.Len(t, list, 2)
	require.Nil(t, list[0].Subscribed, "a case variant is no member")
	require.Equal(t, "de", list[0].Lang.MustGet())
	require.False(t, *list[1].Subscribed)

	u = union(`"SOMETHING"`)
	_, _, err = alternative(u, "UNSUBSCRIBE", u.AsNewsletterPatchList)
	require.Error(t, err)
}
