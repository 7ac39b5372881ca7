package httpapi

import (
	"context"
	"errors"
	"net/http"
	"strings"

	"github.com/google/uuid"

	"github.com/ctms-go/ctms/gen/api"
	"github.com/ctms-go/ctms/internal/contact"
	"github.com/ctms-go/ctms/internal/store"
)

var _ api.StrictServerInterface = (*server)(nil)

const identifiersRequired = "No identifiers provided, at least one is needed: email_id, primary_email, basket_token, sfdc_id, mofo_contact_id, mofo_email_id, amo_user_id, fxa_id, fxa_primary_email"

var errUnknownEmailID = notFound("Unknown email_id")

// filterFrom reads the alternate identifiers; at least one must be non-empty,
// but empty ones still filter (as the Python CTMS does).
func filterFrom(p api.ReadCtmsByAnyIdParams) (store.Filter, error) {
	f := store.Filter{
		EmailID: p.EmailId, PrimaryEmail: p.PrimaryEmail, BasketToken: p.BasketToken, SfdcID: p.SfdcId,
		MofoContactID: p.MofoContactId, MofoEmailID: p.MofoEmailId, AmoUserID: p.AmoUserId,
		FxaID: p.FxaId, FxaPrimaryEmail: p.FxaPrimaryEmail,
	}
	nonEmpty := func(s *string) bool { return s != nil && *s != "" }
	if f.EmailID == nil && f.BasketToken == nil && !nonEmpty(f.PrimaryEmail) && !nonEmpty(f.SfdcID) &&
		!nonEmpty(f.MofoContactID) && !nonEmpty(f.MofoEmailID) && !nonEmpty(f.AmoUserID) &&
		!nonEmpty(f.FxaID) && !nonEmpty(f.FxaPrimaryEmail) {
		return f, httpError(400, identifiersRequired)
	}
	return f, nil
}

// ReadCtmsByAnyId is GET /ctms.
func (s *server) ReadCtmsByAnyId(ctx context.Context, req api.ReadCtmsByAnyIdRequestObject) (api.ReadCtmsByAnyIdResponseObject, error) {
	f, err := filterFrom(req.Params)
	if err != nil {
		return nil, err
	}
	cs, err := read(ctx, s, (*store.Store).FindContacts, f)
	if err != nil {
		return nil, err
	}
	return contactsJSON(cs), nil
}

// ReadIdentities is GET /identities.
func (s *server) ReadIdentities(ctx context.Context, req api.ReadIdentitiesRequestObject) (api.ReadIdentitiesResponseObject, error) {
	f, err := filterFrom(api.ReadCtmsByAnyIdParams(req.Params))
	if err != nil {
		return nil, err
	}
	ids, err := read(ctx, s, (*store.Store).FindIdentities, f)
	if err != nil {
		return nil, err
	}
	out := make(api.ReadIdentities200JSONResponse, len(ids))
	for i := range ids {
		out[i] = identityResponse(&ids[i])
	}
	return out, nil
}

// ReadIdentity is GET /identity/{email_id}.
func (s *server) ReadIdentity(ctx context.Context, req api.ReadIdentityRequestObject) (api.ReadIdentityResponseObject, error) {
	ids, err := read(ctx, s, (*store.Store).FindIdentities, store.Filter{EmailID: &req.EmailId})
	if err != nil {
		return nil, err
	}
	if len(ids) == 0 {
		return nil, errUnknownEmailID
	}
	return api.ReadIdentity200JSONResponse(identityResponse(&ids[0])), nil
}

// ReadCtmsByEmailId is GET /ctms/{email_id}.
func (s *server) ReadCtmsByEmailId(ctx context.Context, req api.ReadCtmsByEmailIdRequestObject) (api.ReadCtmsByEmailIdResponseObject, error) {
	c, err := read(ctx, s, (*store.Store).Contact, req.EmailId)
	if errors.Is(err, store.ErrNotFound) {
		return nil, errUnknownEmailID
	}
	if err != nil {
		return nil, err
	}
	return contactJSON(http.StatusOK, c, ""), nil
}

// CreateCtmsContact is POST /ctms: create, or 200 for an identical re-POST.
// The body is the request's validated patch (patchOf), not req.Body.
func (s *server) CreateCtmsContact(ctx context.Context, _ api.CreateCtmsContactRequestObject) (api.CreateCtmsContactResponseObject, error) {
	in, err := patchOf(ctx)
	if err != nil {
		return nil, err
	}
	id := uuid.New()
	if in.Email != nil && in.Email.EmailID != nil {
		id = *in.Email.EmailID
	}
	c := contact.New(id, in)
	stored, created, err := s.store.Create(ctx, c)
	switch {
	case errors.Is(err, store.ErrConflict):
		return nil, conflict("Contact already exists")
	case err != nil:
		return nil, err
	case created:
		return contactJSON(http.StatusCreated, stored, "/ctms/"+id.String()), nil
	case contact.IdempotentlyEqual(stored, c):
		return contactJSON(http.StatusOK, stored, "/ctms/"+id.String()), nil
	}
	return nil, conflict("Contact already exists")
}

// CreateOrUpdateCtmsContact is PUT /ctms/{email_id}: create or replace; always 201.
func (s *server) CreateOrUpdateCtmsContact(ctx context.Context, req api.CreateOrUpdateCtmsContactRequestObject) (api.CreateOrUpdateCtmsContactResponseObject, error) {
	in, err := patchOf(ctx)
	if err != nil {
		return nil, err
	}
	if in.Email == nil || in.Email.EmailID == nil || *in.Email.EmailID != req.EmailId {
		return nil, unprocessable("email_id in path must match email_id in contact")
	}
	stored, err := s.store.Replace(ctx, contact.New(req.EmailId, in))
	if errors.Is(err, store.ErrConflict) {
		return nil, conflict("Contact with primary_email or basket_token already exists")
	}
	if err != nil {
		return nil, err
	}
	return contactJSON(http.StatusCreated, stored, ""), nil
}

var errPatchConflict = conflict("Contact with primary_email, basket_token, mofo_email_id, or fxa_id already exists")

// PartialUpdateCtmsContact is PATCH /ctms/{email_id}.
func (s *server) PartialUpdateCtmsContact(ctx context.Context, req api.PartialUpdateCtmsContactRequestObject) (api.PartialUpdateCtmsContactResponseObject, error) {
	p, err := patchOf(ctx)
	if err != nil {
		return nil, err
	}
	if p.ChangesEmailID(req.EmailId) {
		return nil, unprocessable("cannot change email_id")
	}
	if p.Email != nil && p.Email.EmailIDNull {
		// The Python CTMS writes the null into emails.email_id (NOT NULL): its
		// commit fails with an integrity error, its 409, once the contact is found.
		if _, err := s.store.Contact(ctx, req.EmailId); err != nil {
			if errors.Is(err, store.ErrNotFound) {
				return nil, errUnknownEmailID
			}
			return nil, err
		}
		return nil, errPatchConflict
	}
	stored, err := s.store.Update(ctx, req.EmailId, p)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return nil, errUnknownEmailID
	case errors.Is(err, store.ErrConflict):
		return nil, errPatchConflict
	case err != nil:
		return nil, err
	}
	return contactJSON(http.StatusOK, stored, ""), nil
}

// DeleteContactByPrimaryEmail is DELETE /ctms/{primary_email}.
func (s *server) DeleteContactByPrimaryEmail(ctx context.Context, req api.DeleteContactByPrimaryEmailRequestObject) (api.DeleteContactByPrimaryEmailResponseObject, error) {
	clientID := authInfo(ctx).ClientID
	deleted, err := s.store.DeleteByPrimaryEmail(ctx, strings.ToLower(req.PrimaryEmail), clientID)
	if err != nil {
		return nil, err
	}
	s.metrics.CountDeletions(clientID, len(deleted))
	if len(deleted) == 0 {
		return nil, notFound("email " + req.PrimaryEmail + " not found!")
	}
	out := make(api.DeleteContactByPrimaryEmail200JSONResponse, len(deleted))
	for i := range deleted {
		out[i] = identityResponse(&deleted[i])
	}
	return out, nil
}
