package httpapi

// The response shapes of the API operations, each with its own write method
// (operations.go). The contact shapes are written without reflection: encoded
// with encoding/json, a page of /updates was a large part of the server's CPU.
// The bytes are those fastapi.Marshal writes for the generated structs
// (jsonwrite_internal_test.go compares them on random contacts); the order of
// members is that of the generated structs (gen/api).

import (
	"net/http"
	"strconv"

	"github.com/ctms-go/ctms/gen/api"
	"github.com/ctms-go/ctms/internal/contact"
	"github.com/ctms-go/ctms/internal/fastapi"
)

// contactOK is one contact with "status":"ok" (POST, PUT, PATCH and GET /ctms/{email_id}).
type contactOK struct {
	status   int    // 200, or 201 when created
	location string // the Location header, when set
	contact  *contact.Contact
}

func (r contactOK) write(w http.ResponseWriter) {
	c := contactResponse(r.contact)
	writeJSONBody(w, r.status, r.location, appendContact(make([]byte, 0, 2048), &c, true))
}

// contactsOK is a list of contacts (GET /ctms).
type contactsOK []contact.Contact

func (r contactsOK) write(w http.ResponseWriter) {
	items := make([]api.CTMSResponse, len(r))
	for i := range r {
		items[i] = contactResponse(&r[i])
	}
	writeJSONBody(w, http.StatusOK, "", appendContacts(make([]byte, 0, 64+1600*len(r)), items))
}

// bulkOK is a page of /updates.
type bulkOK api.CTMSBulkResponse

func (r *bulkOK) write(w http.ResponseWriter) {
	writeJSONBody(w, http.StatusOK, "", appendBulk(make([]byte, 0, 256+1600*len(r.Items)), (*api.CTMSBulkResponse)(r)))
}

// identityOK is the identity of one contact (GET /identity/{email_id}).
type identityOK struct{ identity *contact.Identity }

func (r identityOK) write(w http.ResponseWriter) {
	writeJSON(w, http.StatusOK, identityResponse(r.identity))
}

// identitiesOK is a list of identities (GET /identities, DELETE /ctms/{primary_email}).
type identitiesOK []contact.Identity

func (r identitiesOK) write(w http.ResponseWriter) {
	out := make([]api.IdentityResponse, len(r))
	for i := range r {
		out[i] = identityResponse(&r[i])
	}
	writeJSON(w, http.StatusOK, out)
}

// deletionsOK is a page of /deletions.
type deletionsOK api.DeletionsResponse

func (r *deletionsOK) write(w http.ResponseWriter) {
	writeJSON(w, http.StatusOK, (*api.DeletionsResponse)(r))
}

// writeJSONBody writes a JSON body already in its final form.
func writeJSONBody(w http.ResponseWriter, status int, location string, body []byte) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	if location != "" {
		w.Header().Set("Location", location)
	}
	w.WriteHeader(status)
	_, _ = w.Write(body) // the client went away: nobody to tell
}

// appendContact appends r as api.CTMSResponse encodes, with "status":"ok" at the
// end when single (api.CTMSSingleResponse).
func appendContact(b []byte, r *api.CTMSResponse, single bool) []byte {
	b = append(b, `{"amo":`...)
	b = appendAmo(b, &r.Amo)
	b = append(b, `,"email":`...)
	b = appendEmail(b, &r.Email)
	f := &r.Fxa
	b = append(b, `,"fxa":{"fxa_id":`...)
	b = fastapi.AppendOptString(b, f.FxaId)
	b = append(b, `,"primary_email":`...)
	b = fastapi.AppendOptString(b, f.PrimaryEmail)
	b = append(b, `,"created_date":`...)
	b = fastapi.AppendOptString(b, f.CreatedDate)
	b = append(b, `,"lang":`...)
	b = fastapi.AppendOptString(b, f.Lang)
	b = append(b, `,"first_service":`...)
	b = fastapi.AppendOptString(b, f.FirstService)
	b = append(b, `,"account_deleted":`...)
	b = fastapi.AppendBool(b, f.AccountDeleted)
	m := &r.Mofo
	b = append(b, `},"mofo":{"mofo_email_id":`...)
	b = fastapi.AppendOptString(b, m.MofoEmailId)
	b = append(b, `,"mofo_contact_id":`...)
	b = fastapi.AppendOptString(b, m.MofoContactId)
	b = append(b, `,"mofo_relevant":`...)
	b = fastapi.AppendBool(b, m.MofoRelevant)
	b = append(b, `},"newsletters":`...)
	b = appendNewsletters(b, r.Newsletters)
	b = append(b, `,"waitlists":`...)
	b = appendWaitlists(b, r.Waitlists)
	b = append(b, `,"vpn_waitlist":{"geo":`...)
	b = fastapi.AppendOptString(b, r.VpnWaitlist.Geo)
	b = append(b, `,"platform":`...)
	b = fastapi.AppendOptString(b, r.VpnWaitlist.Platform)
	b = append(b, `},"relay_waitlist":{"geo":`...)
	b = fastapi.AppendOptString(b, r.RelayWaitlist.Geo)
	if single {
		return append(b, `},"status":"ok"}`...)
	}
	return append(b, `}}`...)
}

func appendAmo(b []byte, a *api.AddOnsSchema) []byte {
	b = append(b, `{"add_on_ids":`...)
	b = fastapi.AppendOptString(b, a.AddOnIds)
	b = append(b, `,"display_name":`...)
	b = fastapi.AppendOptString(b, a.DisplayName)
	b = append(b, `,"email_opt_in":`...)
	b = fastapi.AppendBool(b, a.EmailOptIn)
	b = append(b, `,"language":`...)
	b = fastapi.AppendOptString(b, a.Language)
	b = append(b, `,"last_login":`...)
	b = fastapi.AppendOptString(b, a.LastLogin)
	b = append(b, `,"location":`...)
	b = fastapi.AppendOptString(b, a.Location)
	b = append(b, `,"profile_url":`...)
	b = fastapi.AppendOptString(b, a.ProfileUrl)
	b = append(b, `,"user":`...)
	b = fastapi.AppendBool(b, a.User)
	b = append(b, `,"user_id":`...)
	b = fastapi.AppendOptString(b, a.UserId)
	b = append(b, `,"username":`...)
	b = fastapi.AppendOptString(b, a.Username)
	b = append(b, `,"create_timestamp":`...)
	b = fastapi.AppendOptString(b, a.CreateTimestamp)
	b = append(b, `,"update_timestamp":`...)
	b = fastapi.AppendOptString(b, a.UpdateTimestamp)
	return append(b, '}')
}

func appendEmail(b []byte, e *api.EmailSchema) []byte {
	b = append(b, `{"primary_email":`...)
	b = fastapi.AppendString(b, e.PrimaryEmail)
	b = append(b, `,"basket_token":`...)
	b = fastapi.AppendOptUUID(b, e.BasketToken)
	b = append(b, `,"double_opt_in":`...)
	b = fastapi.AppendBool(b, e.DoubleOptIn)
	b = append(b, `,"sfdc_id":`...)
	b = fastapi.AppendOptString(b, e.SfdcId)
	b = append(b, `,"first_name":`...)
	b = fastapi.AppendOptString(b, e.FirstName)
	b = append(b, `,"last_name":`...)
	b = fastapi.AppendOptString(b, e.LastName)
	b = append(b, `,"mailing_country":`...)
	b = fastapi.AppendOptString(b, e.MailingCountry)
	b = append(b, `,"email_format":`...)
	b = fastapi.AppendString(b, string(e.EmailFormat))
	b = append(b, `,"email_lang":`...)
	b = fastapi.AppendOptString(b, e.EmailLang)
	b = append(b, `,"has_opted_out_of_email":`...)
	b = fastapi.AppendBool(b, e.HasOptedOutOfEmail)
	b = append(b, `,"unsubscribe_reason":`...)
	b = fastapi.AppendOptString(b, e.UnsubscribeReason)
	b = append(b, `,"email_id":`...)
	b = fastapi.AppendUUID(b, e.EmailId)
	b = append(b, `,"create_timestamp":`...)
	b = fastapi.AppendString(b, e.CreateTimestamp)
	b = append(b, `,"update_timestamp":`...)
	b = fastapi.AppendString(b, e.UpdateTimestamp)
	return append(b, '}')
}

func appendNewsletters(b []byte, list []api.NewsletterTimestampedSchema) []byte {
	if list == nil {
		return append(b, "null"...)
	}
	b = append(b, '[')
	for i := range list {
		n := &list[i]
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"name":`...)
		b = fastapi.AppendString(b, n.Name)
		b = append(b, `,"subscribed":`...)
		b = fastapi.AppendBool(b, n.Subscribed)
		b = append(b, `,"format":`...)
		b = fastapi.AppendString(b, string(n.Format))
		b = append(b, `,"lang":`...)
		b = fastapi.AppendOptString(b, n.Lang)
		b = append(b, `,"source":`...)
		b = fastapi.AppendOptString(b, n.Source)
		b = append(b, `,"unsub_reason":`...)
		b = fastapi.AppendOptString(b, n.UnsubReason)
		b = append(b, `,"create_timestamp":`...)
		b = fastapi.AppendString(b, n.CreateTimestamp)
		b = append(b, `,"update_timestamp":`...)
		b = fastapi.AppendString(b, n.UpdateTimestamp)
		b = append(b, '}')
	}
	return append(b, ']')
}

func appendWaitlists(b []byte, list []api.WaitlistTimestampedSchema) []byte {
	if list == nil {
		return append(b, "null"...)
	}
	b = append(b, '[')
	for i := range list {
		w := &list[i]
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"name":`...)
		b = fastapi.AppendString(b, w.Name)
		b = append(b, `,"source":`...)
		b = fastapi.AppendOptString(b, w.Source)
		b = append(b, `,"fields":`...)
		b = fastapi.AppendRaw(b, w.Fields)
		b = append(b, `,"subscribed":`...)
		b = fastapi.AppendBool(b, w.Subscribed)
		b = append(b, `,"unsub_reason":`...)
		b = fastapi.AppendOptString(b, w.UnsubReason)
		b = append(b, `,"create_timestamp":`...)
		b = fastapi.AppendString(b, w.CreateTimestamp)
		b = append(b, `,"update_timestamp":`...)
		b = fastapi.AppendString(b, w.UpdateTimestamp)
		b = append(b, '}')
	}
	return append(b, ']')
}

// appendBulk appends r as api.CTMSBulkResponse encodes.
func appendBulk(b []byte, r *api.CTMSBulkResponse) []byte {
	b = append(b, `{"start":`...)
	b = fastapi.AppendString(b, r.Start)
	b = append(b, `,"end":`...)
	b = fastapi.AppendString(b, r.End)
	b = append(b, `,"limit":`...)
	b = strconv.AppendInt(b, int64(r.Limit), 10)
	b = append(b, `,"after":`...)
	b = fastapi.AppendOptString(b, r.After)
	b = append(b, `,"next":`...)
	b = fastapi.AppendOptString(b, r.Next)
	b = append(b, `,"items":`...)
	return append(appendContacts(b, r.Items), '}')
}

// appendContacts appends a list of contacts ([]api.CTMSResponse).
func appendContacts(b []byte, items []api.CTMSResponse) []byte {
	if items == nil {
		return append(b, "null"...)
	}
	b = append(b, '[')
	for i := range items {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendContact(b, &items[i], false)
	}
	return append(b, ']')
}
