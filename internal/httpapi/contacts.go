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

// readContacts is GET /ctms.
func (s *server) readContacts(ctx context.Context, p *api.ReadCtmsByAnyIdParams) (contactsOK, error) {
	f, err := filterFrom(*p)
	if err != nil {
		return nil, err
	}
	return read(ctx, s, (*store.Store).FindContacts, f)
}

// readIdentities is GET /identities.
func (s *server) readIdentities(ctx context.Context, p *api.ReadCtmsByAnyIdParams) (identitiesOK, error) {
	f, err := filterFrom(*p)
	if err != nil {
		return nil, err
	}
	return read(ctx, s, (*store.Store).FindIdentities, f)
}

// readIdentity is GET /identity/{email_id}.
func (s *server) readIdentity(ctx context.Context, emailID uuid.UUID) (identityOK, error) {
	ids, err := read(ctx, s, (*store.Store).FindIdentities, store.Filter{EmailID: &emailID})
	if err != nil {
		return identityOK{}, err
	}
	if len(ids) == 0 {
		return identityOK{}, errUnknownEmailID
	}
	return identityOK{&ids[0]}, nil
}

// readContact is GET /ctms/{email_id}.
func (s *server) readContact(ctx context.Context, emailID uuid.UUID) (contactOK, error) {
	c, err := read(ctx, s, (*store.Store).Contact, emailID)
	if errors.Is(err, store.ErrNotFound) {
		return contactOK{}, errUnknownEmailID
	}
	if err != nil {
		return contactOK{}, err
	}
	return contactOK{status: http.StatusOK, contact: c}, nil
}

// createContact is POST /ctms: create, or 200 for an identical re-POST.
func (s *server) createContact(ctx context.Context, p *contact.Patch) (contactOK, error) {
	id := uuid.New()
	if p.Email != nil && p.Email.EmailID != nil {
		id = *p.Email.EmailID
	}
	c := contact.New(id, p)
	stored, created, err := s.store.Create(ctx, c)
	location := "/ctms/" + id.String()
	switch {
	case errors.Is(err, store.ErrConflict):
		return contactOK{}, conflict("Contact already exists")
	case err != nil:
		return contactOK{}, err
	case created:
		return contactOK{status: http.StatusCreated, location: location, contact: stored}, nil
	case contact.IdempotentlyEqual(stored, c):
		return contactOK{status: http.StatusOK, location: location, contact: stored}, nil
	}
	return contactOK{}, conflict("Contact already exists")
}

// replaceContact is PUT /ctms/{email_id}: create or replace; always 201.
func (s *server) replaceContact(ctx context.Context, emailID uuid.UUID, p *contact.Patch) (contactOK, error) {
	if p.ChangesEmailID(emailID) {
		return contactOK{}, unprocessable("email_id in path must match email_id in contact")
	}
	stored, err := s.store.Replace(ctx, contact.New(emailID, p))
	if errors.Is(err, store.ErrConflict) {
		return contactOK{}, conflict("Contact with primary_email or basket_token already exists")
	}
	if err != nil {
		return contactOK{}, err
	}
	return contactOK{status: http.StatusCreated, contact: stored}, nil
}

var errPatchConflict = conflict("Contact with primary_email, basket_token, mofo_email_id, or fxa_id already exists")

// patchContact is PATCH /ctms/{email_id}.
func (s *server) patchContact(ctx context.Context, emailID uuid.UUID, p *contact.Patch) (contactOK, error) {
	if p.ChangesEmailID(emailID) {
		return contactOK{}, unprocessable("cannot change email_id")
	}
	if p.Email != nil && p.Email.EmailIDNull {
		// The Python CTMS writes the null into emails.email_id (NOT NULL): its
		// commit fails with an integrity error, its 409, once the contact is found.
		if _, err := s.store.Contact(ctx, emailID); err != nil {
			if errors.Is(err, store.ErrNotFound) {
				return contactOK{}, errUnknownEmailID
			}
			return contactOK{}, err
		}
		return contactOK{}, errPatchConflict
	}
	stored, err := s.store.Update(ctx, emailID, p)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return contactOK{}, errUnknownEmailID
	case errors.Is(err, store.ErrConflict):
		return contactOK{}, errPatchConflict
	case err != nil:
		return contactOK{}, err
	}
	return contactOK{status: http.StatusOK, contact: stored}, nil
}

// deleteContacts is DELETE /ctms/{primary_email}.
func (s *server) deleteContacts(ctx context.Context, primaryEmail string) (identitiesOK, error) {
	clientID := authInfo(ctx).ClientID
	deleted, err := s.store.DeleteByPrimaryEmail(ctx, strings.ToLower(primaryEmail), clientID)
	if err != nil {
		return nil, err
	}
	s.metrics.CountDeletions(clientID, len(deleted))
	if len(deleted) == 0 {
		return nil, notFound("email " + primaryEmail + " not found!")
	}
	return deleted, nil
}
