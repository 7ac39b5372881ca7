package contact_test

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ctms-go/ctms/internal/contact"
)

func TestLegacyWaitlistViews(t *testing.T) {
	t.Parallel()
	w := func(name string, subscribed bool, fields string) contact.Waitlist {
		return contact.Waitlist{Name: name, Subscribed: subscribed, Fields: json.RawMessage(fields)}
	}
	str := func(s *string) any {
		if s == nil {
			return nil
		}
		return *s
	}
	tests := []struct {
		name                 string
		waitlists            []contact.Waitlist
		geo, platform, relay any
	}{
		{"none", nil, nil, nil, nil},
		{"vpn", []contact.Waitlist{w("vpn", true, `{"geo":"fr","platform":"ios,mac"}`)}, "fr", "ios,mac", nil},
		{"spaced, nested, escaped values", []contact.Waitlist{w("vpn", true, ` { "n" : {"geo":"x","a":[1,{"b":"}"}]} , "geo" : "f\"r\u00e9" , "platform":"p" } `)},
			"f\"ré", "p", nil},
		{"null and other types are no string", []contact.Waitlist{w("vpn", true, `{"geo":null,"platform":3}`)}, nil, nil, nil},
		{"exact member names", []contact.Waitlist{w("vpn", true, `{"GEO":"fr","Platform":"ios"}`)}, nil, nil, nil},
		{"escaped member name", []contact.Waitlist{w("vpn", true, `{"g\u0065o":"fr"}`)}, "fr", nil, nil},
		{"last of repeated members", []contact.Waitlist{w("vpn", true, `{"geo":"fr","geo":"de"}`)}, "de", nil, nil},
		{"fields no object", []contact.Waitlist{w("vpn", true, `["geo"]`), w("relay", true, `"geo"`)}, nil, nil, nil},
		{"unsubscribed vpn", []contact.Waitlist{w("vpn", false, `{"geo":"fr"}`)}, nil, nil, nil},
		{"first non-null geo of subscribed relay*", []contact.Waitlist{
			w("relay", false, `{"geo":"fr"}`), w("relay-a", true, `{"geo":null}`), w("relay-b", true, `{}`),
			w("relay-c", true, `{"geo":"it"}`), w("relay-d", true, `{"geo":"de"}`),
		}, nil, nil, "it"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := &contact.Contact{Waitlists: tt.waitlists}
			geo, platform := c.VPNWaitlist()
			require.Equal(t, tt.geo, str(geo))
			require.Equal(t, tt.platform, str(platform))
			require.Equal(t, tt.relay, str(c.RelayWaitlistGeo()))
		})
	}
}

func TestSameJSON(t *testing.T) {
	t.Parallel()
	same := [][2]string{
		{`{"a":1}`, `{"a":1}`},
		{`{"a":1,"b":[1, 2]}`, ` { "a" : 1 , "b" : [ 1,2 ] } `},
		{`{"b":1,"a":2}`, `{"a":2,"b":1}`},
		{`{"a":1.0}`, `{"a":1}`},
		{`{"a":"\u00e9"}`, `{"a":"é"}`},
		{``, `{}`},
	}
	for _, p := range same {
		require.True(t, contact.SameJSON(json.RawMessage(p[0]), json.RawMessage(p[1])), "%s %s", p[0], p[1])
	}
	different := [][2]string{
		{`{"a":"x y"}`, `{"a":"xy"}`},
		{`{"a":"\"b"}`, `{"a":"\"c"}`},
		{`{"a":1}`, `{"a":2}`},
		{`{"a":1}`, `{"a":1,"b":1}`},
		{`{"a":1}`, `not json`},
	}
	for _, p := range different {
		require.False(t, contact.SameJSON(json.RawMessage(p[0]), json.RawMessage(p[1])), "%s %s", p[0], p[1])
	}
}
