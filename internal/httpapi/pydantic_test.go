package httpapi_test

import (
	"net/http"
	"testing"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"
)

// The tests of this file pin what the Python CTMS answers where CTMS-Go used
// to answer otherwise (issue 20). Each case names the pydantic, FastAPI or
// Starlette rule it follows; the expected items are built from those rules
// (https://docs.pydantic.dev/latest/errors/validation_errors/), never copied
// from our own output.

// uuidItem is pydantic's uuid_parsing: "Input should be a valid UUID, {error}"
// with ctx {"error": the uuid crate's reason}.
func uuidItem(loc []any, input, reason string) map[string]any {
	return obj{"type": "uuid_parsing", "loc": loc, "msg": "Input should be a valid UUID, " + reason,
		"input": input, "ctx": obj{"error": reason}}
}

func TestUUIDsAsPydanticParsesThem(t *testing.T) {
	t.Parallel()
	a := newAPI(t)
	id, body := newContact()
	a.create(body)
	cases := []struct {
		name, path string
		want       map[string]any
	}{
		// Uuid::parse_str takes no surrounding spaces (google/uuid.Parse took any
		// two characters around 36).
		{"spaced path id", "/ctms/%20" + id + "%20", uuidItem(arr{"path", "email_id"}, " "+id+" ", "invalid character: found ` ` at 1")},
		{"bad character", "/ctms/g" + id[1:], uuidItem(arr{"path", "email_id"}, "g"+id[1:], "invalid character: found `g` at 1")},
		{"too short", "/ctms/1", uuidItem(arr{"path", "email_id"}, "1", "invalid length: expected length 32 for simple format, found 1")},
		{"group length", "/identity/" + id[:35], uuidItem(arr{"path", "email_id"}, id[:35], "invalid group length in group 4: expected 12, found 11")},
		{"query", "/ctms?basket_token=" + id[:8], uuidItem(arr{"query", "basket_token"}, id[:8], "invalid length: expected length 32 for simple format, found 8")},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			require.Equal(t, []map[string]any{c.want}, validationErrors(t, a.on(t).do("GET", c.path, nil)))
		})
	}
	t.Run("spaced basket_token in a body", func(t *testing.T) {
		nid, b := newContact()
		token := " " + uuid.NewString() + " "
		b["email"].(obj)["basket_token"] = token
		r := a.on(t).do("POST", "/ctms", b)
		require.Equal(t, []map[string]any{uuidItem(arr{"body", "email", "basket_token"}, token, "invalid character: found ` ` at 1")},
			validationErrors(t, r))
		a.noRows(nid)
	})
	require.Equal(t, http.StatusOK, a.do("GET", "/ctms/"+id, nil).Status)
}
