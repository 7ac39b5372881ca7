package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
)

// opFunc performs one request (service) or one round of SQL (ceiling).
type opFunc func(ctx context.Context, w *worker) error

// operation is one benchmarked API operation and its ceiling.
type operation struct {
	key, name string
	kind      string // read, updates or write (the targets differ)
	scaling   bool   // also measured on the small database
	service   func(b *bench) opFunc
	ceiling   func(b *bench) opFunc
	usable    func(b *bench) bool // nil: always
}

func always(*bench) bool { return true }

func operationList() []operation {
	ops := []operation{
		{key: "get_id", name: "GET /ctms/{email_id}", kind: "read", scaling: true, service: svcGetByID, ceiling: ceilGetByID},
		{key: "get_email", name: "GET /ctms?primary_email=", kind: "read", scaling: true, service: svcGetByEmail, ceiling: ceilGetByEmail},
		{key: "identities", name: "GET /identities?primary_email=", kind: "read", service: svcIdentities, ceiling: ceilIdentities},
		{key: "updates_first", name: "GET /updates (first page)", kind: "updates", service: svcUpdatesFirst, ceiling: ceilUpdatesFirst},
		{key: "updates_deep", name: "GET /updates (depth 10,000)", kind: "updates", service: svcUpdatesDeep, ceiling: ceilUpdatesDeep,
			usable: func(b *bench) bool { return b.updates.deepCursor != "" }},
		{key: "post", name: "POST /ctms", kind: "write", service: svcPost, ceiling: ceilPost},
		{key: "put", name: "PUT /ctms/{email_id}", kind: "write", service: svcPut, ceiling: ceilPut},
		{key: "patch", name: "PATCH /ctms/{email_id}", kind: "write", service: svcPatch, ceiling: ceilPatch},
		{key: "delete", name: "DELETE /ctms/{primary_email}", kind: "write", service: svcDelete, ceiling: ceilDelete},
	}
	for i := range ops {
		if ops[i].usable == nil {
			ops[i].usable = always
		}
	}
	return ops
}

// ---- the service (HTTP) ----

func svcGetByID(b *bench) opFunc {
	return func(ctx context.Context, w *worker) error {
		id := contactID(b.seed, b.readableIndex(w))
		return b.do(ctx, http.MethodGet, "/ctms/"+id.String(), nil, http.StatusOK)
	}
}

func svcGetByEmail(b *bench) opFunc {
	return func(ctx context.Context, w *worker) error {
		email := contactEmail(b.seed, b.readableIndex(w))
		return b.do(ctx, http.MethodGet, "/ctms?primary_email="+url.QueryEscape(email), nil, http.StatusOK)
	}
}

func svcIdentities(b *bench) opFunc {
	return func(ctx context.Context, w *worker) error {
		email := contactEmail(b.seed, b.readableIndex(w))
		return b.do(ctx, http.MethodGet, "/identities?primary_email="+url.QueryEscape(email), nil, http.StatusOK)
	}
}

// updatesSetup holds the /updates parameters: a start before every seeded contact, the
// page size, and the cursor of the contact at the configured depth.
type updatesSetup struct {
	start      time.Time
	limit      int
	deepCursor string
	deepTS     time.Time
	deepID     uuid.UUID
}

// setupUpdates finds the keyset position at depth cfg.updatesDepth (once, with OFFSET:
// setup only) and encodes it as the API's cursor.
func (b *bench) setupUpdates(ctx context.Context) error {
	b.updates = updatesSetup{start: seedBase.Add(-24 * time.Hour), limit: b.cfg.updatesLimit}
	if b.n < b.cfg.updatesDepth+b.cfg.updatesLimit {
		return nil
	}
	err := b.pool.QueryRow(ctx, `SELECT email_id, update_timestamp FROM emails
		ORDER BY update_timestamp, email_id OFFSET $1 LIMIT 1`, b.cfg.updatesDepth-1).Scan(&b.updates.deepID, &b.updates.deepTS)
	if err != nil {
		return fmt.Errorf("find the /updates cursor at depth %d: %w", b.cfg.updatesDepth, err)
	}
	text := b.updates.deepID.String() + "," + b.updates.deepTS.UTC().Format("2006-01-02 15:04:05.000000") + "+00:00"
	b.updates.deepCursor = base64.URLEncoding.EncodeToString([]byte(text))
	return nil
}

func (b *bench) updatesPath(after string) string {
	p := "/updates?start=" + url.QueryEscape(b.updates.start.Format(time.RFC3339)) + "&limit=" + strconv.Itoa(b.updates.limit)
	if after != "" {
		p += "&after=" + url.QueryEscape(after)
	}
	return p
}

func svcUpdatesFirst(b *bench) opFunc {
	path := b.updatesPath("")
	return func(ctx context.Context, w *worker) error { return b.do(ctx, http.MethodGet, path, nil, http.StatusOK) }
}

func svcUpdatesDeep(b *bench) opFunc {
	path := b.updatesPath(b.updates.deepCursor)
	return func(ctx context.Context, w *worker) error { return b.do(ctx, http.MethodGet, path, nil, http.StatusOK) }
}

// A sign-up: e-mail, two newsletters and a waitlist.
type postBody struct {
	Email struct {
		PrimaryEmail   string `json:"primary_email"`
		FirstName      string `json:"first_name"`
		MailingCountry string `json:"mailing_country"`
		EmailLang      string `json:"email_lang"`
		EmailFormat    string `json:"email_format"`
	} `json:"email"`
	Newsletters []newsletterBody `json:"newsletters"`
	Waitlists   []waitlistBody   `json:"waitlists"`
}

type newsletterBody struct {
	Name       string `json:"name"`
	Subscribed bool   `json:"subscribed"`
	Format     string `json:"format"`
	Lang       string `json:"lang"`
	Source     string `json:"source"`
}

type waitlistBody struct {
	Name   string          `json:"name"`
	Source string          `json:"source"`
	Fields json.RawMessage `json:"fields"`
}

const (
	postNewsletterSource = "https://www.mozilla.org/en-US/newsletter/"
	postWaitlistSource   = "https://www.mozilla.org/en-US/products/vpn/"
	postWaitlistFields   = `{"geo": "fr", "platform": "windows,mac"}`
)

var postNewsletters = []string{"mozilla-and-you", "firefox-news"}

func svcPost(b *bench) opFunc {
	return func(ctx context.Context, w *worker) error {
		email := b.newPostEmail()
		var body postBody
		body.Email.PrimaryEmail, body.Email.FirstName = email, "Ada"
		body.Email.MailingCountry, body.Email.EmailLang, body.Email.EmailFormat = "fr", "fr", "H"
		for _, n := range postNewsletters {
			body.Newsletters = append(body.Newsletters, newsletterBody{Name: n, Subscribed: true, Format: "H", Lang: "fr", Source: postNewsletterSource})
		}
		body.Waitlists = []waitlistBody{{Name: "vpn", Source: postWaitlistSource, Fields: json.RawMessage(postWaitlistFields)}}
		data, err := json.Marshal(&body)
		if err != nil {
			return err
		}
		if err := b.do(ctx, http.MethodPost, "/ctms", data, http.StatusCreated); err != nil {
			return err
		}
		b.deletes.push(email)
		return nil
	}
}

// putBody is a whole contact (PUT), built from a seeded contact.
type putBody struct {
	Email struct {
		EmailID            string  `json:"email_id"`
		PrimaryEmail       string  `json:"primary_email"`
		BasketToken        string  `json:"basket_token"`
		DoubleOptIn        bool    `json:"double_opt_in"`
		SfdcID             *string `json:"sfdc_id"`
		FirstName          string  `json:"first_name"`
		LastName           string  `json:"last_name"`
		MailingCountry     string  `json:"mailing_country"`
		EmailFormat        string  `json:"email_format"`
		EmailLang          string  `json:"email_lang"`
		HasOptedOutOfEmail bool    `json:"has_opted_out_of_email"`
	} `json:"email"`
	Amo         *amoBody         `json:"amo,omitempty"`
	Fxa         *fxaBody         `json:"fxa,omitempty"`
	Mofo        *mofoBody        `json:"mofo,omitempty"`
	Newsletters []newsletterBody `json:"newsletters"`
	Waitlists   []waitlistBody   `json:"waitlists"`
}

type amoBody struct {
	AddOnIDs    string `json:"add_on_ids"`
	DisplayName string `json:"display_name"`
	EmailOptIn  bool   `json:"email_opt_in"`
	Language    string `json:"language"`
	LastLogin   string `json:"last_login"`
	Location    string `json:"location"`
	ProfileURL  string `json:"profile_url"`
	User        bool   `json:"user"`
	UserID      string `json:"user_id"`
	Username    string `json:"username"`
}

type fxaBody struct {
	FxaID        string `json:"fxa_id"`
	PrimaryEmail string `json:"primary_email"`
	CreatedDate  string `json:"created_date"`
	Lang         string `json:"lang"`
	FirstService string `json:"first_service"`
}

type mofoBody struct {
	MofoEmailID   string `json:"mofo_email_id"`
	MofoContactID string `json:"mofo_contact_id"`
	MofoRelevant  bool   `json:"mofo_relevant"`
}

// changedContact is seeded contact i with a new first name and one newsletter toggled:
// what a PUT sends.
func changedContact(b *bench, w *worker) seedContact {
	c := genContact(b.seed, b.readableIndex(w))
	c.first = c.first + strconv.Itoa(w.r.IntN(10))
	k := w.r.IntN(len(c.newsletters))
	c.newsletters[k].subscribed = !c.newsletters[k].subscribed
	return c
}

func svcPut(b *bench) opFunc {
	return func(ctx context.Context, w *worker) error {
		c := changedContact(b, w)
		var body putBody
		e := &body.Email
		e.EmailID, e.PrimaryEmail, e.BasketToken, e.DoubleOptIn, e.SfdcID = c.id.String(), c.email, c.token, c.doubleOptIn, c.sfdcID
		e.FirstName, e.LastName, e.MailingCountry, e.EmailFormat, e.EmailLang = c.first, c.last, c.country, "H", c.lang
		e.HasOptedOutOfEmail = c.optedOut
		if a := c.amo; a != nil {
			body.Amo = &amoBody{AddOnIDs: a.addOnIDs, DisplayName: a.displayName, EmailOptIn: true, Language: a.language,
				LastLogin: a.lastLogin.Format(time.DateOnly), Location: a.location, ProfileURL: a.profileURL, User: true,
				UserID: a.userID, Username: a.username}
		}
		if f := c.fxa; f != nil {
			body.Fxa = &fxaBody{FxaID: f.fxaID, PrimaryEmail: f.email, CreatedDate: f.createdDate, Lang: f.lang, FirstService: f.firstService}
		}
		if m := c.mofo; m != nil {
			body.Mofo = &mofoBody{MofoEmailID: m.emailID, MofoContactID: m.contactID, MofoRelevant: m.relevant}
		}
		for _, n := range c.newsletters {
			body.Newsletters = append(body.Newsletters, newsletterBody{Name: n.name, Subscribed: n.subscribed, Format: "H", Lang: n.lang, Source: n.source})
		}
		for _, wl := range c.waitlists {
			body.Waitlists = append(body.Waitlists, waitlistBody{Name: wl.name, Source: wl.source, Fields: json.RawMessage(wl.fields)})
		}
		data, err := json.Marshal(&body)
		if err != nil {
			return err
		}
		return b.do(ctx, http.MethodPut, "/ctms/"+c.id.String(), data, http.StatusCreated)
	}
}

// patchChange is a newsletter (un)subscription of a seeded contact.
func patchChange(b *bench, w *worker) (uuid.UUID, string, bool) {
	return contactID(b.seed, b.readableIndex(w)), newsletterNames[w.r.IntN(4)], w.r.IntN(2) == 0
}

func svcPatch(b *bench) opFunc {
	return func(ctx context.Context, w *worker) error {
		id, name, sub := patchChange(b, w)
		body := `{"newsletters":[{"name":"` + name + `","subscribed":` + strconv.FormatBool(sub) + `}]}`
		return b.do(ctx, http.MethodPatch, "/ctms/"+id.String(), []byte(body), http.StatusOK)
	}
}

func svcDelete(b *bench) opFunc {
	return func(ctx context.Context, w *worker) error {
		email, ok := b.deletes.pop()
		if !ok {
			return errExhausted
		}
		return b.do(ctx, http.MethodDelete, "/ctms/"+url.PathEscape(email), nil, http.StatusOK)
	}
}

// ---- the ceiling (SQL through the pool, no HTTP, no JSON) ----

func ceilGetByID(b *bench) opFunc {
	return func(ctx context.Context, w *worker) error {
		return expectContacts(b.pool.Query(ctx, sqlContactByID, contactID(b.seed, b.readableIndex(w))))(1)
	}
}

func ceilGetByEmail(b *bench) opFunc {
	return func(ctx context.Context, w *worker) error {
		return expectContacts(b.pool.Query(ctx, sqlContactByEmail, contactEmail(b.seed, b.readableIndex(w))))(1)
	}
}

func ceilIdentities(b *bench) opFunc {
	return func(ctx context.Context, w *worker) error {
		rows, err := b.pool.Query(ctx, sqlIdentityByEmail, contactEmail(b.seed, b.readableIndex(w)))
		if err != nil {
			return err
		}
		n, err := scanIdentities(rows)
		if err == nil && n != 1 {
			err = fmt.Errorf("identities: %d rows, want 1", n)
		}
		return err
	}
}

func ceilUpdatesFirst(b *bench) opFunc {
	return func(ctx context.Context, w *worker) error {
		return expectContacts(b.pool.Query(ctx, sqlUpdatesFirst, b.updates.start, time.Now(), b.updates.limit))(b.updates.limit)
	}
}

func ceilUpdatesDeep(b *bench) opFunc {
	return func(ctx context.Context, w *worker) error {
		return expectContacts(b.pool.Query(ctx, sqlUpdatesAfter, b.updates.deepTS, b.updates.deepID, time.Now(), b.updates.limit))(b.updates.limit)
	}
}

// batchRead queues the read-back of the written contact (the response's data).
func batchRead(batch *pgx.Batch, id uuid.UUID) {
	batch.Queue(sqlContactByID, id).Query(func(rows pgx.Rows) error {
		n, err := scanContacts(rows)
		if err == nil && n != 1 {
			err = fmt.Errorf("read back: %d contacts, want 1", n)
		}
		return err
	})
}

// A write is one pgx batch: one round trip, one implicit transaction (a single Sync).
func ceilPost(b *bench) opFunc {
	sources := []string{postNewsletterSource, postNewsletterSource}
	return func(ctx context.Context, w *worker) error {
		email, id := b.newPostEmail(), newID()
		batch := &pgx.Batch{}
		batch.Queue(sqlInsertEmail, id, email, "Ada", "fr", "fr")
		batch.Queue(sqlUpsertNewsletters, id, postNewsletters, []bool{true, true}, "fr", sources)
		batch.Queue(sqlUpsertWaitlists, id, []string{"vpn"}, []string{postWaitlistSource}, []string{postWaitlistFields})
		batchRead(batch, id)
		if err := b.pool.SendBatch(ctx, batch).Close(); err != nil {
			return err
		}
		b.deletes.push(email)
		return nil
	}
}

func ceilPut(b *bench) opFunc {
	return func(ctx context.Context, w *worker) error {
		c := changedContact(b, w)
		batch := &pgx.Batch{}
		batch.Queue(sqlUpsertEmail, c.id, c.email, c.token, c.sfdcID, c.first, c.last, c.country, c.lang, c.optedOut, c.doubleOptIn)
		names, subs, sources := make([]string, 0, 4), make([]bool, 0, 4), make([]string, 0, 4)
		for _, n := range c.newsletters {
			names, subs, sources = append(names, n.name), append(subs, n.subscribed), append(sources, n.source)
		}
		batch.Queue(sqlDeleteOtherNewsletters, c.id, names)
		batch.Queue(sqlUpsertNewsletters, c.id, names, subs, c.lang, sources)
		var wnames, wsources, wfields []string
		for _, wl := range c.waitlists {
			wnames, wsources, wfields = append(wnames, wl.name), append(wsources, wl.source), append(wfields, wl.fields)
		}
		batch.Queue(sqlDeleteOtherWaitlists, c.id, wnames)
		batch.Queue(sqlUpsertWaitlists, c.id, wnames, wsources, wfields)
		if a := c.amo; a != nil {
			batch.Queue(sqlUpsertAmo, c.id, a.addOnIDs, a.displayName, a.language, a.lastLogin, a.location, a.profileURL, a.userID, a.username)
		} else {
			batch.Queue("DELETE FROM amo WHERE email_id = $1", c.id)
		}
		if f := c.fxa; f != nil {
			batch.Queue(sqlUpsertFxa, c.id, f.fxaID, f.email, f.createdDate, f.lang, f.firstService)
		} else {
			batch.Queue("DELETE FROM fxa WHERE email_id = $1", c.id)
		}
		if m := c.mofo; m != nil {
			batch.Queue(sqlUpsertMofo, c.id, m.emailID, m.contactID, m.relevant)
		} else {
			batch.Queue("DELETE FROM mofo WHERE email_id = $1", c.id)
		}
		batchRead(batch, c.id)
		return b.pool.SendBatch(ctx, batch).Close()
	}
}

func ceilPatch(b *bench) opFunc {
	return func(ctx context.Context, w *worker) error {
		id, name, sub := patchChange(b, w)
		batch := &pgx.Batch{}
		batch.Queue("UPDATE emails SET update_timestamp = now() WHERE email_id = $1", id)
		batch.Queue(sqlPatchNewsletter, id, name, sub)
		batchRead(batch, id)
		return b.pool.SendBatch(ctx, batch).Close()
	}
}

func ceilDelete(b *bench) opFunc {
	return func(ctx context.Context, w *worker) error {
		email, ok := b.deletes.pop()
		if !ok {
			return errExhausted
		}
		batch := &pgx.Batch{}
		batch.Queue(sqlIdentityByEmail, email).Query(func(rows pgx.Rows) error {
			n, err := scanIdentities(rows)
			if err == nil && n != 1 {
				err = fmt.Errorf("delete: %d identities, want 1", n)
			}
			return err
		})
		batch.Queue(sqlDeleteChildrenByEmail, email)
		batch.Queue("DELETE FROM emails WHERE lower(primary_email) = lower($1)", email)
		return b.pool.SendBatch(ctx, batch).Close()
	}
}
