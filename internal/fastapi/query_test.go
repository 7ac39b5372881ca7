package fastapi

import (
	"net/url"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/stretchr/testify/require"
)

func TestNormaliseQuery(t *testing.T) {
	param := func(in, name, typ string, allowEmpty, required bool) *openapi3.ParameterRef {
		return &openapi3.ParameterRef{Value: &openapi3.Parameter{In: in, Name: name, AllowEmptyValue: allowEmpty, Required: required,
			Schema: &openapi3.SchemaRef{Value: &openapi3.Schema{Type: &openapi3.Types{typ}}}}}
	}
	params := openapi3.Parameters{
		param("query", "start", "string", false, true),
		param("query", "end", "string", true, false),
		param("query", "mofo_relevant", "boolean", true, false),
		param("query", "ids", "array", false, false),
		param("path", "email_id", "string", false, true),
	}
	cases := []struct {
		name, query, want string
		nul               []any // loc of the NUL problems
	}{
		{"as sent", "start=a&end=b&mofo_relevant=true", "start=a&end=b&mofo_relevant=true", nil},
		{"last value wins", "start=a&start=b", "start=b", nil},
		{"lists keep every value", "ids=1&ids=2", "ids=1&ids=2", nil},
		{"lax booleans", "mofo_relevant=Yes", "mofo_relevant=true", nil},
		{"not a boolean stays", "mofo_relevant=maybe", "mofo_relevant=maybe", nil},
		{"empty optional dropped", "start=a&end=&mofo_relevant=", "start=a", nil},
		{"empty last value dropped", "end=x&end=", "", nil},
		{"empty required kept", "start=", "start=", nil},
		{"undeclared untouched", "other=1&other=2&other=", "other=1&other=2&other=", nil},
		{"invalid UTF-8", "start=%ff&other=%fe", "other=%EF%BF%BD&start=%EF%BF%BD", nil},
		{"NUL", "start=a%00&end=b", "", []any{"query", "start"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			q, err := url.ParseQuery(c.query)
			require.NoError(t, err)
			problems := NormaliseQuery(q, map[string]string{"email_id": "x"}, params)
			if c.nul != nil {
				require.Len(t, problems, 1)
				require.Equal(t, c.nul, problems[0].Loc)
				require.Equal(t, "Value error, NUL character not allowed", problems[0].Msg)
				return
			}
			require.Empty(t, problems)
			want, err := url.ParseQuery(c.want)
			require.NoError(t, err)
			require.Equal(t, want, q)
		})
	}
	problems := NormaliseQuery(url.Values{}, map[string]string{"email_id": "a\x00"}, params)
	require.Equal(t, []any{"path", "email_id"}, problems[0].Loc)
}
