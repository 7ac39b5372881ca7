// Package store is the thin layer between the domain (internal/contact) and the
// sqlc-generated queries (gen/db): it owns transactions, maps rows to domain
// values and turns database errors into the sentinels the HTTP layer maps.
package store

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"syscall"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/ctms-go/ctms/gen/db"
	"github.com/ctms-go/ctms/internal/contact"
)

var (
	// ErrNotFound means the contact does not exist.
	ErrNotFound = errors.New("not found")
	// ErrConflict means a uniqueness (or other integrity) constraint refused the write.
	ErrConflict = errors.New("conflict")
	// ErrUnavailable means the database could not be reached or did not answer in time;
	// the request may succeed later (503, not 500).
	ErrUnavailable = errors.New("database unavailable")
)

// DB is what the store needs: sqlc's DBTX plus Begin. *pgxpool.Pool and pgx.Tx
// both satisfy it (in a transaction, Begin opens a savepoint).
type DB interface {
	db.DBTX
	Begin(ctx context.Context) (pgx.Tx, error)
	SendBatch(ctx context.Context, b *pgx.Batch) pgx.BatchResults
}

// Store reads and writes contacts.
type Store struct {
	db DB
	q  *db.Queries
}

// New returns a Store on a pool (or, in tests, on a transaction).
func New(d DB) *Store { return &Store{db: d, q: db.New()} }

// errRetry makes inTx run the transaction again: what it read vanished under a
// concurrent write (e.g. a POST found a contact that a DELETE then removed).
var errRetry = errors.New("concurrent write: retry")

// retryable tells whether err lost a race that another attempt can win, and
// whether it is a unique violation (retried for creations only).
func retryable(err error) (again, unique bool) {
	if errors.Is(err, errRetry) {
		return true, false
	}
	if c, ok := errors.AsType[conflictError](err); ok {
		return false, c.code == "23505"
	}
	if pgErr, ok := errors.AsType[*pgconn.PgError](err); ok {
		return pgErr.Code == "40001" || pgErr.Code == "40P01", false
	}
	return false, false
}

// conflictError is an integrity violation: it is ErrConflict and keeps the
// SQLSTATE (never the PgError, whose Detail holds the row's values).
type conflictError struct{ code string }

func (e conflictError) Error() string        { return ErrConflict.Error() }
func (e conflictError) Is(target error) bool { return target == ErrConflict }

// unavailable tells database outages and timeouts (connection refused or lost,
// server shutting down, request deadline) from errors in the request itself.
func unavailable(err error) bool {
	if errors.Is(err, context.DeadlineExceeded) || pgconn.Timeout(err) {
		return true
	}
	if _, ok := errors.AsType[*pgconn.ConnectError](err); ok {
		return true
	}
	if pgErr, ok := errors.AsType[*pgconn.PgError](err); ok {
		// 08: connection exception; 57P01-57P03: shutdown, crash, cannot connect now;
		// 25006 read_only_sql_transaction: the server was demoted by a failover.
		return strings.HasPrefix(pgErr.Code, "08") || (strings.HasPrefix(pgErr.Code, "57P") && pgErr.Code != "57P04") ||
			pgErr.Code == "25006"
	}
	if _, ok := errors.AsType[net.Error](err); ok {
		return true
	}
	// ErrConnClosed: the connection died earlier in the request (e.g. the server went away).
	return errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) || errors.Is(err, syscall.ECONNRESET) ||
		errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, pgconn.ErrConnClosed)
}

// mapError turns integrity violations (SQLSTATE class 23) into ErrConflict,
// naming the constraint but never the row (PgError.Detail holds the email).
// The error of a pipeline's statement is named after the statement (op: name).
func mapError(op string, err error) error {
	if err == nil {
		return nil
	}
	if s, ok := errors.AsType[*statementError](err); ok {
		op, err = op+": "+s.name, s.err
	}
	if errors.Is(err, pgx.ErrNoRows) {
		return fmt.Errorf("%s: %w", op, ErrNotFound)
	}
	if pgErr, ok := errors.AsType[*pgconn.PgError](err); ok && len(pgErr.Code) == 5 && pgErr.Code[:2] == "23" {
		return fmt.Errorf("%s: constraint %s (%s): %w", op, pgErr.ConstraintName, pgErr.Code, conflictError{pgErr.Code})
	}
	if unavailable(err) {
		return fmt.Errorf("%s: %w: %w", op, ErrUnavailable, err)
	}
	return fmt.Errorf("%s: %w", op, err)
}

// Contact loads one contact.
func (s *Store) Contact(ctx context.Context, id uuid.UUID) (*contact.Contact, error) {
	return s.contactByID(ctx, s.db, id)
}

func (s *Store) contactByID(ctx context.Context, d db.DBTX, id uuid.UUID) (*contact.Contact, error) {
	cs, err := s.contactGet(ctx, d, db.ContactGetParams{EmailID: &id})
	if err != nil {
		return nil, err
	}
	if len(cs) == 0 {
		return nil, fmt.Errorf("contact get: %w", ErrNotFound)
	}
	return &cs[0], nil
}

func (s *Store) contactGet(ctx context.Context, d db.DBTX, p db.ContactGetParams) ([]contact.Contact, error) {
	rows, err := s.q.ContactGet(ctx, d, p)
	if err != nil {
		return nil, mapError("contact get", err)
	}
	return contactsFromRows(rows)
}

// Contacts loads contacts in the order of ids (unknown ids are left out).
func (s *Store) Contacts(ctx context.Context, ids []uuid.UUID) ([]contact.Contact, error) {
	if len(ids) == 0 {
		return []contact.Contact{}, nil
	}
	rows, err := s.q.ContactsGetByIDs(ctx, s.db, ids)
	if err != nil {
		return nil, mapError("contacts get", err)
	}
	byID := make(map[uuid.UUID]int, len(rows))
	for i := range rows {
		byID[rows[i].EmailID] = i
	}
	out := make([]contact.Contact, 0, len(rows))
	for _, id := range ids {
		i, ok := byID[id]
		if !ok {
			continue
		}
		c, err := contactFromRow((*contactRow)(&rows[i]))
		if err != nil {
			return nil, err
		}
		out = append(out, c)
		delete(byID, id) // a repeated id is returned once
	}
	return out, nil
}

// Filter holds the alternate identifiers of GET /ctms and /identities; nil means "not given".
type Filter struct {
	EmailID         *uuid.UUID
	PrimaryEmail    *string
	BasketToken     *uuid.UUID
	SfdcID          *string
	MofoContactID   *string
	MofoEmailID     *string
	AmoUserID       *string
	FxaID           *string
	FxaPrimaryEmail *string
}

// FindIdentities returns the identities of the contacts matching every identifier of f.
func (s *Store) FindIdentities(ctx context.Context, f Filter) ([]contact.Identity, error) {
	return s.findIdentities(ctx, s.db, f)
}

func (s *Store) findIdentities(ctx context.Context, d db.DBTX, f Filter) ([]contact.Identity, error) {
	if f.PrimaryEmail != nil && (f == Filter{PrimaryEmail: f.PrimaryEmail}) {
		// The common lookup by primary email alone: a statement with a generic plan
		// (IdentitiesFind is planned anew on every call, its filters being optional).
		rows, err := s.q.IdentityByPrimaryEmail(ctx, d, *f.PrimaryEmail)
		if err != nil {
			return nil, mapError("identity by primary email", err)
		}
		out := make([]contact.Identity, len(rows))
		for i, r := range rows {
			out[i] = contact.Identity(r)
		}
		return out, nil
	}
	var token *string
	if f.BasketToken != nil {
		token = new(f.BasketToken.String())
	}
	rows, err := s.q.IdentitiesFind(ctx, d, db.IdentitiesFindParams{
		EmailID: f.EmailID, PrimaryEmail: f.PrimaryEmail, BasketToken: token, SfdcID: f.SfdcID,
		MofoContactID: f.MofoContactID, MofoEmailID: f.MofoEmailID, AmoUserID: f.AmoUserID,
		FxaID: f.FxaID, FxaPrimaryEmail: f.FxaPrimaryEmail,
	})
	if err != nil {
		return nil, mapError("identities find", err)
	}
	out := make([]contact.Identity, len(rows))
	for i, r := range rows {
		out[i] = contact.Identity(r)
	}
	return out, nil
}

// FindContacts returns the contacts matching every identifier of f.
func (s *Store) FindContacts(ctx context.Context, f Filter) ([]contact.Contact, error) {
	if f.PrimaryEmail != nil && (f == Filter{PrimaryEmail: f.PrimaryEmail}) {
		// The common lookup by primary email alone: one statement.
		return s.contactGet(ctx, s.db, db.ContactGetParams{PrimaryEmail: f.PrimaryEmail})
	}
	ids, err := s.FindIdentities(ctx, f)
	if err != nil {
		return nil, err
	}
	return s.Contacts(ctx, emailIDs(ids))
}

func emailIDs(ids []contact.Identity) []uuid.UUID {
	out := make([]uuid.UUID, len(ids))
	for i := range ids {
		out[i] = ids[i].EmailID
	}
	return out
}

// Create inserts a new contact. When a contact with the same email_id exists, it
// returns that contact and created=false, leaving the idempotency decision to the caller.
// One round trip: the contact in one statement, then its read-back.
func (s *Store) Create(ctx context.Context, c *contact.Contact) (stored *contact.Contact, created bool, err error) {
	params, err := createParams(c)
	if err != nil {
		return nil, false, err
	}
	err = s.inBatch(ctx, true, func(p *pipeline) error {
		p.Queue("ContactCreate", s.q.ContactCreate(ctx, p, params))
		stored, err = s.contactByID(ctx, p, c.Email.EmailID)
		if errors.Is(err, ErrNotFound) {
			return errRetry // it existed, then was deleted before the read-back: create it now
		}
		created = err == nil && p.rowsAffected(0) == 1
		return err
	})
	if err != nil {
		return nil, false, err
	}
	return stored, created, nil
}

// Replace creates the contact or replaces it entirely (PUT). One round trip: the
// emails row, every group and list, then the read-back.
func (s *Store) Replace(ctx context.Context, c *contact.Contact) (stored *contact.Contact, err error) {
	err = s.inBatch(ctx, true, func(p *pipeline) error {
		p.Queue("EmailUpsert", s.q.EmailUpsert(ctx, p, emailUpsertParams(&c.Email)))
		if err := s.queueChildren(ctx, p, nil, c); err != nil {
			return err
		}
		stored, err = s.contactByID(ctx, p, c.Email.EmailID)
		return err
	})
	return stored, err
}

// Update applies the patch to the stored contact under a row lock and writes
// what changed (PATCH). The email row's update_timestamp is always bumped. Two
// round trips: BEGIN, the lock and the read; then the writes, the read-back and COMMIT.
func (s *Store) Update(ctx context.Context, id uuid.UUID, patch *contact.Patch) (stored *contact.Contact, err error) {
	err = s.inConnTx(ctx, func(tx *connTx) error {
		read := tx.pipeline()
		read.Queue("EmailLock", s.q.EmailLock(ctx, read, id))
		// A statement of its own after the lock: it reads what the last writer committed.
		old, err := s.contactByID(ctx, read, id)
		if sendErr := read.Send(ctx); err == nil {
			err = mapError("read contact", sendErr)
		}
		if err != nil {
			return err
		}
		next := old.Clone()
		patch.Apply(next)
		write := tx.pipeline()
		write.Queue("EmailUpdate", s.q.EmailUpdate(ctx, write, emailUpdateParams(&next.Email)))
		if err := s.queueChildren(ctx, write, old, next); err != nil {
			return err
		}
		tx.commitAfter(write)
		stored, err = s.contactByID(ctx, write, id)
		if sendErr := write.Send(ctx); err == nil {
			err = mapError("write contact", sendErr)
		}
		return err
	})
	return stored, err
}

// DeleteByPrimaryEmail deletes the contact whose primary email matches
// case-insensitively (at most one: the index is unique) and returns its identity.
// The deleted contact leaves a tombstone naming deletedBy (the API client id),
// written by the database trigger (sql/migrations/00005_deletion_tombstones.sql).
// The contact is locked before its child rows are touched: a PATCH or PUT of it
// either commits first (and its rows are deleted too) or waits and finds it gone.
// Two round trips: BEGIN, the lock and the identity; then the deletions and COMMIT.
func (s *Store) DeleteByPrimaryEmail(ctx context.Context, email, deletedBy string) (deleted []contact.Identity, err error) {
	err = s.inConnTx(ctx, func(tx *connTx) error {
		deleted = nil
		find := tx.pipeline()
		find.Queue("EmailLockByPrimaryEmail", s.q.EmailLockByPrimaryEmail(ctx, find,
			db.EmailLockByPrimaryEmailParams{DeletedBy: deletedBy, PrimaryEmail: email}))
		found, err := s.q.IdentityByPrimaryEmail(ctx, find, email)
		if sendErr := find.Send(ctx); err == nil {
			err = sendErr
		}
		if err != nil {
			return mapError("identity by primary email", err)
		}
		remove := tx.pipeline()
		tx.commitAfter(remove)
		if find.rowsAffected(0) == 1 { // else none, or created since the lock was taken: not this request's
			for _, ident := range found {
				remove.Queue("ContactDeleteChildren", s.q.ContactDeleteChildren(ctx, remove, ident.EmailID))
				remove.Queue("EmailDelete", s.q.EmailDelete(ctx, remove, ident.EmailID))
				deleted = append(deleted, contact.Identity(ident))
			}
		}
		if err := remove.Send(ctx); err != nil {
			deleted = nil
			return mapError("delete contact", err)
		}
		return nil
	})
	return deleted, err
}
