package httpapi_test

import (
	"encoding/json"
	"net/http"
	"testing"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"
)

// The tests of this file pin how a POST, PUT or PATCH body is validated: as
// pydantic v2 validates the Python CTMS's models and FastAPI lists the errors
// (issue 20). Expected items are written from pydantic's documented error
// types (https://docs.pydantic.dev/latest/errors/validation_errors/) and from
// its rules, never from our own output:
//   - a model validates its fields in declaration order (that of the Python
//     CTMS's models, the order of the response objects' keys), so errors come
//     in that order: ContactInSchema declares amo, email, fxa, mofo,
//     newsletters, waitlists; EmailInSchema primary_email, basket_token, ...,
//     unsubscribe_reason, email_id;
//   - a field's after validator (check_fields of a waitlist item) runs once the
//     item is valid, its errors at the item's place;
//   - a union lists the errors of every member, each under its tag;
//   - a null where the field is not Optional is that type's error, once.

const (
	msgBool      = "Input should be a valid boolean"
	msgBoolParse = "Input should be a valid boolean, unable to interpret input"
	msgString    = "Input should be a valid string"
	msgModel     = "Input should be a valid dictionary or object to extract fields from" // model_attributes_type (from_attributes models)
	tagNews      = "list[NewsletterBase]"
	tagWaitlists = "list[function-after[check_fields(), WaitlistBase]]"
)

// v1UUID is a version-1 UUID (RFC 4122's example).
const v1UUID = "a8098c1a-f86e-11da-bd1a-00112444be1e"

func TestBodyItemsInModelFieldOrder(t *testing.T) {
	t.Parallel()
	a := newAPI(t)
	id := uuid.NewString()
	// Alphabetical order (kin-openapi's) would give amo, email.basket_token, email.primary_email.
	want := []map[string]any{
		{"type": "bool_parsing", "loc": arr{"body", "amo", "user"}, "msg": msgBoolParse, "input": "maybe"},
		{"type": "string_type", "loc": arr{"body", "email", "primary_email"}, "msg": msgString, "input": float64(42)},
		uuidItem(arr{"body", "email", "basket_token"}, "1", "invalid length: expected length 32 for simple format, found 1"),
		{"type": "uuid_version", "loc": arr{"body", "email", "email_id"}, "msg": "UUID version 4 expected", "input": v1UUID,
			"ctx": obj{"expected_version": float64(4)}},
	}
	body := obj{"email": obj{"email_id": v1UUID, "basket_token": "1", "primary_email": 42}, "amo": obj{"user": "maybe"}}
	require.Equal(t, want, validationErrors(t, a.do("POST", "/ctms", body)))
	require.Equal(t, want, validationErrors(t, a.do("PUT", "/ctms/"+id, body)))
	patchWant := []map[string]any{
		{"type": "literal_error", "loc": arr{"body", "amo", "literal['DELETE']"}, "msg": "Input should be 'DELETE'",
			"input": obj{"user": "maybe"}, "ctx": obj{"expected": "'DELETE'"}},
		{"type": "bool_parsing", "loc": arr{"body", "amo", "AddOnsBase", "user"}, "msg": msgBoolParse, "input": "maybe"},
		want[1], want[2], want[3],
	}
	require.Equal(t, patchWant, validationErrors(t, a.do("PATCH", "/ctms/"+id, body)))
	a.noRows(id)
}

// check_fields is an after validator of each waitlist item: its errors come at
// the item's place among the others, also when other fields are wrong.
func TestWaitlistFieldRulesInItemOrder(t *testing.T) {
	t.Parallel()
	a := newAPI(t)
	id := uuid.NewString()
	body := obj{"email": obj{"email_id": id, "primary_email": 1},
		"waitlists": arr{obj{"name": "relay", "fields": obj{"foo": "bar"}}, obj{"name": ""}}}
	extra := obj{"type": "extra_forbidden", "loc": arr{"body", "waitlists", float64(0), "foo"}, "msg": "Extra inputs are not permitted", "input": "bar"}
	short := obj{"type": "string_too_short", "loc": arr{"body", "waitlists", float64(1), "name"},
		"msg": "String should have at least 1 character", "input": "", "ctx": obj{"min_length": float64(1)}}
	require.Equal(t, []map[string]any{
		{"type": "string_type", "loc": arr{"body", "email", "primary_email"}, "msg": msgString, "input": float64(1)}, extra, short,
	}, validationErrors(t, a.do("POST", "/ctms", body)))

	patch := obj{"waitlists": arr{obj{"name": "relay", "fields": obj{"foo": "bar"}}, obj{"name": float64(5)}}}
	require.Equal(t, []map[string]any{
		{"type": "extra_forbidden", "loc": arr{"body", "waitlists", tagWaitlists, float64(0), "foo"}, "msg": "Extra inputs are not permitted", "input": "bar"},
		{"type": "string_type", "loc": arr{"body", "waitlists", tagWaitlists, float64(1), "name"}, "msg": msgString, "input": float64(5)},
		{"type": "literal_error", "loc": arr{"body", "waitlists", "literal['UNSUBSCRIBE']"}, "msg": "Input should be 'UNSUBSCRIBE'",
			"input": patch["waitlists"], "ctx": obj{"expected": "'UNSUBSCRIBE'"}},
	}, validationErrors(t, a.do("PATCH", "/ctms/"+id, patch)))
	a.noRows(id)
}

// A null for a PATCH field that is not Optional in the Python CTMS's model is
// that field's type error, once (bool_type for a bool, literal_error for a
// Literal); inside a union, once per member.
func TestPatchNullsGiveOneItem(t *testing.T) {
	t.Parallel()
	a := newAPI(t)
	id, body := newContact()
	a.create(body)
	before := a.get(id)
	cases := []struct {
		name string
		body obj
		want []map[string]any
	}{
		{"email", obj{"email": obj{"double_opt_in": nil, "email_format": nil}}, []map[string]any{
			{"type": "bool_type", "loc": arr{"body", "email", "double_opt_in"}, "msg": msgBool, "input": nil},
			{"type": "literal_error", "loc": arr{"body", "email", "email_format"}, "msg": "Input should be 'H', 'T', 'N' or ''",
				"input": nil, "ctx": obj{"expected": "'H', 'T', 'N' or ''"}},
		}},
		{"amo", obj{"amo": obj{"user": nil}}, []map[string]any{
			{"type": "literal_error", "loc": arr{"body", "amo", "literal['DELETE']"}, "msg": "Input should be 'DELETE'",
				"input": obj{"user": nil}, "ctx": obj{"expected": "'DELETE'"}},
			{"type": "bool_type", "loc": arr{"body", "amo", "AddOnsBase", "user"}, "msg": msgBool, "input": nil},
		}},
		{"newsletters", obj{"newsletters": arr{obj{"name": "n", "subscribed": nil}}}, []map[string]any{
			{"type": "bool_type", "loc": arr{"body", "newsletters", tagNews, float64(0), "subscribed"}, "msg": msgBool, "input": nil},
			{"type": "literal_error", "loc": arr{"body", "newsletters", "literal['UNSUBSCRIBE']"}, "msg": "Input should be 'UNSUBSCRIBE'",
				"input": arr{obj{"name": "n", "subscribed": nil}}, "ctx": obj{"expected": "'UNSUBSCRIBE'"}},
		}},
		// CTMS-Go refuses a null group (a 500 in the Python CTMS): the union's
		// members refuse it as they would if it were not Optional.
		{"null group", obj{"fxa": nil}, []map[string]any{
			{"type": "literal_error", "loc": arr{"body", "fxa", "literal['DELETE']"}, "msg": "Input should be 'DELETE'",
				"input": nil, "ctx": obj{"expected": "'DELETE'"}},
			{"type": "model_attributes_type", "loc": arr{"body", "fxa", "FirefoxAccountsBase"}, "msg": msgModel, "input": nil},
		}},
		{"null email", obj{"email": nil}, []map[string]any{
			{"type": "model_attributes_type", "loc": arr{"body", "email"}, "msg": msgModel, "input": nil},
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			require.Equal(t, c.want, validationErrors(t, a.on(t).do("PATCH", "/ctms/"+id, c.body)))
		})
	}
	require.Equal(t, before, a.get(id), "nothing changed")
}

// pydantic's error types for the other shapes a body can have wrong.
func TestBodyErrorTypesAsPydantic(t *testing.T) {
	t.Parallel()
	a := newAPI(t)
	id, valid := newContact()
	email := valid["email"]
	cases := []struct {
		rule string
		body any
		want map[string]any
	}{
		{"missing: a required field absent; input is the model's dict", obj{"amo": nil},
			obj{"type": "missing", "loc": arr{"body", "email"}, "msg": "Field required", "input": obj{"amo": nil}}},
		{"model_attributes_type: a string for a model", obj{"email": "x@example.com"},
			obj{"type": "model_attributes_type", "loc": arr{"body", "email"}, "msg": msgModel, "input": "x@example.com"}},
		{"model_attributes_type: a list for a model", obj{"email": email, "amo": arr{}},
			obj{"type": "model_attributes_type", "loc": arr{"body", "amo"}, "msg": msgModel, "input": arr{}}},
		{"model_attributes_type: a list item that is no object", obj{"email": email, "newsletters": arr{"n"}},
			obj{"type": "model_attributes_type", "loc": arr{"body", "newsletters", float64(0)}, "msg": msgModel, "input": "n"}},
		{"model_attributes_type: a body that is no object", arr{email},
			obj{"type": "model_attributes_type", "loc": arr{"body"}, "msg": msgModel, "input": arr{email}}},
		{"list_type: an object for a list", obj{"email": email, "newsletters": obj{"name": "n"}},
			obj{"type": "list_type", "loc": arr{"body", "newsletters"}, "msg": "Input should be a valid list", "input": obj{"name": "n"}}},
		{"list_type: null for a list with a default", obj{"email": email, "waitlists": nil},
			obj{"type": "list_type", "loc": arr{"body", "waitlists"}, "msg": "Input should be a valid list", "input": nil}},
		{"dict_type: a string for waitlist fields", obj{"email": email, "waitlists": arr{obj{"name": "w", "fields": "geo"}}},
			obj{"type": "dict_type", "loc": arr{"body", "waitlists", float64(0), "fields"}, "msg": "Input should be a valid dictionary", "input": "geo"}},
		{"bool_type: an object for a bool", obj{"email": email, "mofo": obj{"mofo_relevant": obj{}}},
			obj{"type": "bool_type", "loc": arr{"body", "mofo", "mofo_relevant"}, "msg": msgBool, "input": obj{}}},
		{"bool_parsing: a string that is no boolean", obj{"email": email, "fxa": obj{"account_deleted": "maybe"}},
			obj{"type": "bool_parsing", "loc": arr{"body", "fxa", "account_deleted"}, "msg": msgBoolParse, "input": "maybe"}},
		// pydantic-core's validate_bool: a float is read as an int when integral (float_as_int), then 0 or 1.
		{"bool_parsing: a number other than 0 and 1", obj{"email": email, "mofo": obj{"mofo_relevant": 2.0}},
			obj{"type": "bool_parsing", "loc": arr{"body", "mofo", "mofo_relevant"}, "msg": msgBoolParse, "input": float64(2)}},
		{"bool_type: a number with a fraction", obj{"email": email, "mofo": obj{"mofo_relevant": 1.5}},
			obj{"type": "bool_type", "loc": arr{"body", "mofo", "mofo_relevant"}, "msg": msgBool, "input": 1.5}},
		{"bool_type: an int beyond i64", obj{"email": email, "mofo": obj{"mofo_relevant": json.Number("18446744073709551616")}},
			obj{"type": "bool_type", "loc": arr{"body", "mofo", "mofo_relevant"}, "msg": msgBool, "input": float64(18446744073709551616)}},
		{"uuid_type: a number for a UUID", obj{"email": obj{"primary_email": "x@example.com", "basket_token": 7}},
			obj{"type": "uuid_type", "loc": arr{"body", "email", "basket_token"}, "msg": "UUID input should be a string, bytes or UUID object", "input": float64(7)}},
		{"string_type: a bool for a string", obj{"email": email, "fxa": obj{"fxa_id": true}},
			obj{"type": "string_type", "loc": arr{"body", "fxa", "fxa_id"}, "msg": msgString, "input": true}},
		{"literal_error: a number for a Literal", obj{"email": email, "newsletters": arr{obj{"name": "n", "format": 1}}},
			obj{"type": "literal_error", "loc": arr{"body", "newsletters", float64(0), "format"}, "msg": "Input should be 'H' or 'T'",
				"input": float64(1), "ctx": obj{"expected": "'H' or 'T'"}}},
	}
	for _, c := range cases {
		t.Run(c.rule, func(t *testing.T) {
			require.Equal(t, []map[string]any{c.want}, validationErrors(t, a.on(t).do("POST", "/ctms", c.body)))
		})
	}
	a.noRows(id)
	// A PATCH email_id is a UUID4 too (EmailPatchSchema inherits EmailInSchema's).
	a.create(valid)
	r := a.do("PATCH", "/ctms/"+id, obj{"email": obj{"email_id": v1UUID}})
	require.Equal(t, []map[string]any{{"type": "uuid_version", "loc": arr{"body", "email", "email_id"}, "msg": "UUID version 4 expected",
		"input": v1UUID, "ctx": obj{"expected_version": float64(4)}}}, validationErrors(t, r))
}

// FastAPI echoes the object json.loads built as `input`: its keys in the
// client's order, its values as sent, also inside a list or a union's member.
func TestBodyInputsEchoedAsSent(t *testing.T) {
	t.Parallel()
	a := newAPI(t)
	id, body := newContact()
	a.create(body)
	r := a.do("POST", "/ctms", `{"email": {"primary_email": "x@example.com"}, "amo": [{"zeta": 1, "alpha": "yes"}]}`)
	require.Contains(t, string(r.Body), `"loc":["body","amo"],"msg":"`+msgModel+`","input":[{"zeta":1,"alpha":"yes"}]`)
	r = a.do("PATCH", "/ctms/"+id, `{"mofo": {"mofo_relevant": "maybe", "b": 2, "a": 1}}`)
	require.Contains(t, string(r.Body), `"loc":["body","mofo","literal['DELETE']"],"msg":"Input should be 'DELETE'","input":{"mofo_relevant":"maybe","b":2,"a":1}`)
	require.Equal(t, http.StatusUnprocessableEntity, r.Status)
}
