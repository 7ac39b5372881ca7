// Package store is the thin layer between the domain (internal/contact) and the
// sqlc-generated queries (gen/db): it owns transactions, maps rows to domain
// values and turns database errors into the sentinels the HTTP layer maps.
package store

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"strings"
	"syscall"
	"time"

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
}

// Store reads and writes contacts.
type Store struct {
	db DB
	q  *db.Queries
}

// New returns a Store on a pool (or, in tests, on a transaction).
func New(d DB) *Store { return &Store{db: d, q: db.New()} }

// inTx runs fn in one transaction, committed when fn returns nil.
//
// Writes racing on one contact can lose in ways that say nothing about the
// request: a deadlock or serialization failure, or (retryUnique, for PUT and
// POST of a new contact) a unique violation against a concurrent creator of
// the same contact, whose row the next attempt finds and updates. Those are
// run again, a bounded number of times, so the loser answers as if it had
// come just after the winner.
func (s *Store) inTx(ctx context.Context, retryUnique bool, fn func(pgx.Tx) error) error {
	var err error
	uniqueRetries := 0
	for attempt := 1; ; attempt++ {
		err = pgx.BeginFunc(ctx, s.db, fn)
		again, unique := retryable(err)
		if unique {
			again = retryUnique && uniqueRetries < maxUniqueRetries
			uniqueRetries++
		}
		if again && attempt == maxAttempts && !unique {
			// Lost every attempt to concurrent writers: the database is too busy for
			// this contact now, which is a 503 to retry later, not a server fault.
			return fmt.Errorf("transaction: %w: lost %d races in a row: %w", ErrUnavailable, maxAttempts, err)
		}
		if !again || attempt == maxAttempts || ctx.Err() != nil {
			break
		}
		// A short random pause, so that racers do not collide again in step.
		time.Sleep(time.Duration(attempt) * time.Duration(rand.Int64N(int64(5*time.Millisecond)))) // #nosec G404 -- jitter, not a secret
	}
	if err != nil && !errors.Is(err, ErrUnavailable) && unavailable(err) {
		return fmt.Errorf("transaction: %w: %w", ErrUnavailable, err)
	}
	return err
}

const (
	maxAttempts      = 5 // per write transaction
	maxUniqueRetries = 2 // a genuine conflict costs this many more attempts
)

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
func mapError(op string, err error) error {
	if err == nil {
		return nil
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
	cs, err := s.contacts(ctx, s.db, []uuid.UUID{id})
	if err != nil {
		return nil, err
	}
	if len(cs) == 0 {
		return nil, fmt.Errorf("contact get: %w", ErrNotFound)
	}
	return &cs[0], nil
}

// Contacts loads contacts in the order of ids (unknown ids are left out).
func (s *Store) Contacts(ctx context.Context, ids []uuid.UUID) ([]contact.Contact, error) {
	return s.contacts(ctx, s.db, ids)
}

func (s *Store) contacts(ctx context.Context, d db.DBTX, ids []uuid.UUID) ([]contact.Contact, error) {
	if len(ids) == 0 {
		return []contact.Contact{}, nil
	}
	rows, err := s.q.ContactsGetByIDs(ctx, d, db.ContactsGetByIDsParams{EmailIds: ids})
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
		c, err := contactFromRow(&rows[i])
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
		rows, err := s.q.ContactsGetByIDs(ctx, s.db, db.ContactsGetByIDsParams{EmailIds: []uuid.UUID{}, PrimaryEmail: f.PrimaryEmail})
		if err != nil {
			return nil, mapError("contacts by primary email", err)
		}
		out := make([]contact.Contact, 0, len(rows))
		for i := range rows {
			c, err := contactFromRow(&rows[i])
			if err != nil {
				return nil, err
			}
			out = append(out, c)
		}
		return out, nil
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
func (s *Store) Create(ctx context.Context, c *contact.Contact) (stored *contact.Contact, created bool, err error) {
	err = s.inTx(ctx, true, func(tx pgx.Tx) error {
		created = false
		inserted, err := s.q.EmailInsert(ctx, tx, emailParams(&c.Email))
		if err != nil {
			return mapError("email insert", err)
		}
		if inserted == 0 { // the email_id exists: hand the stored contact back
			stored, err = s.reload(ctx, tx, c.Email.EmailID)
			if errors.Is(err, ErrNotFound) {
				return errRetry // deleted since the insert saw it: create it now
			}
			return err
		}
		if err := s.writeChildren(ctx, tx, nil, c, true); err != nil {
			return err
		}
		created = true
		stored, err = s.reload(ctx, tx, c.Email.EmailID)
		return err
	})
	if err != nil {
		return nil, false, err
	}
	return stored, created, nil
}

// Replace creates the contact or replaces it entirely (PUT).
func (s *Store) Replace(ctx context.Context, c *contact.Contact) (stored *contact.Contact, err error) {
	err = s.inTx(ctx, true, func(tx pgx.Tx) error {
		// The upsert locks the row first, so the children read next are current.
		if err := s.q.EmailUpsert(ctx, tx, db.EmailUpsertParams(emailParams(&c.Email))); err != nil {
			return mapError("email upsert", err)
		}
		old, err := s.reload(ctx, tx, c.Email.EmailID)
		if err != nil {
			return err
		}
		if err := s.writeChildren(ctx, tx, old, c, true); err != nil {
			return err
		}
		stored, err = s.reload(ctx, tx, c.Email.EmailID)
		return err
	})
	return stored, err
}

// Update applies the patch to the stored contact under a row lock and writes
// what changed (PATCH). The email row's update_timestamp is always bumped.
func (s *Store) Update(ctx context.Context, id uuid.UUID, patch *contact.Patch) (stored *contact.Contact, err error) {
	err = s.inTx(ctx, false, func(tx pgx.Tx) error {
		if _, err := s.q.EmailLock(ctx, tx, id); err != nil {
			return mapError("email lock", err)
		}
		old, err := s.reload(ctx, tx, id)
		if err != nil {
			return err
		}
		next := old.Clone()
		patch.Apply(next)
		if err := s.q.EmailUpdate(ctx, tx, emailUpdateParams(&next.Email)); err != nil {
			return mapError("email update", err)
		}
		if err := s.writeChildren(ctx, tx, old, next, false); err != nil {
			return err
		}
		stored, err = s.reload(ctx, tx, id)
		return err
	})
	return stored, err
}

// DeleteByPrimaryEmail deletes every contact whose primary email matches
// case-insensitively and returns their identities. Each deleted contact leaves a
// tombstone naming deletedBy (the API client id), written by the database trigger
// (sql/migrations/00005_deletion_tombstones.sql). The contacts are locked
// before their child rows are touched: a PATCH or PUT of one of them either
// commits first (and its rows are deleted too) or waits and finds it gone.
func (s *Store) DeleteByPrimaryEmail(ctx context.Context, email, deletedBy string) (deleted []contact.Identity, err error) {
	err = s.inTx(ctx, false, func(tx pgx.Tx) error {
		deleted = nil
		locked, err := s.q.EmailsLockByPrimaryEmail(ctx, tx, email)
		if err != nil || len(locked) == 0 {
			return mapError("emails lock", err)
		}
		found, err := s.findIdentities(ctx, tx, Filter{PrimaryEmail: &email})
		if err != nil {
			return err
		}
		if err := s.q.DeletionsSetDeletedBy(ctx, tx, deletedBy); err != nil {
			return mapError("deletions set deleted_by", err)
		}
		isLocked := make(map[uuid.UUID]bool, len(locked))
		for _, id := range locked {
			isLocked[id] = true
		}
		for _, ident := range found {
			if !isLocked[ident.EmailID] {
				continue // created since the lock was taken: not this request's
			}
			if err := s.q.ContactDeleteChildren(ctx, tx, ident.EmailID); err != nil {
				return mapError("contact delete children", err)
			}
			if err := s.q.EmailDelete(ctx, tx, ident.EmailID); err != nil {
				return mapError("email delete", err)
			}
			deleted = append(deleted, ident)
		}
		return nil
	})
	return deleted, err
}

func (s *Store) reload(ctx context.Context, tx db.DBTX, id uuid.UUID) (*contact.Contact, error) {
	cs, err := s.contacts(ctx, tx, []uuid.UUID{id})
	if err != nil {
		return nil, err
	}
	if len(cs) == 0 {
		return nil, fmt.Errorf("contact reload: %w", ErrNotFound)
	}
	return &cs[0], nil
}
