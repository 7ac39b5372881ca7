package main

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
)

// versions numbers the drill's writes: each stamps its contact with "v<N>" in
// unsubscribe_reason (user_attributes_v1.unsub_reason in Braze).
var versions atomic.Int64

func nextVersion() string { return fmt.Sprintf("v%d", versions.Add(1)) }

// versionOf reads N of "v<N>…" (0 for anything else: a backfilled contact).
func versionOf(reason any) int64 {
	s, _ := reason.(string)
	if !strings.HasPrefix(s, "v") {
		return 0
	}
	var n int64
	for _, c := range s[1:] {
		if c < '0' || c > '9' {
			break
		}
		n = n*10 + int64(c-'0')
	}
	return n
}

// owned is a contact one writer owns: nobody else writes it, so its versions grow in
// commit order.
type owned struct {
	id, email string
	hasFxaID  bool
	deleted   bool
}

// tally counts the writes by operation and outcome.
type tally struct {
	mu      sync.Mutex
	counts  map[string]int
	samples map[string]string
}

// sample keeps the first answer of an unexpected client error, for the report.
func (t *tally) sample(key, answer string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.samples == nil {
		t.samples = map[string]string{}
	}
	if _, ok := t.samples[key]; !ok {
		t.samples[key] = answer[:min(len(answer), 300)]
	}
}

func (t *tally) add(key string) {
	t.mu.Lock()
	t.counts[key]++
	t.mu.Unlock()
}

func (t *tally) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	keys := make([]string, 0, len(t.counts))
	for k := range t.counts {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for _, k := range keys {
		fmt.Fprintf(&b, "    %-44s %6d\n", k, t.counts[k])
		if a, ok := t.samples[k]; ok {
			fmt.Fprintf(&b, "        (first answer: %s)\n", a)
		}
	}
	return b.String()
}

func pick[T any](r *rand.Rand, xs []T) T { return xs[r.IntN(len(xs))] }

func maybe(r *rand.Rand, p float64) bool { return r.Float64() < p }

func optStr(r *rand.Rand, p float64, s string) any {
	if maybe(r, p) {
		return s
	}
	return nil
}

// contactBody is a whole contact for POST or PUT.
func contactBody(r *rand.Rand, c *owned, withFxa bool) map[string]any {
	email := map[string]any{
		"email_id": c.id, "primary_email": c.email, "unsubscribe_reason": nextVersion(),
		"first_name": optStr(r, 0.7, "F"+c.id[:6]), "last_name": optStr(r, 0.5, "L"+c.id[:6]),
		"mailing_country": pick(r, []any{"us", "fr", "de", nil}), "email_lang": pick(r, []any{"en", "fr", "de"}),
		"double_opt_in": maybe(r, 0.5), "has_opted_out_of_email": maybe(r, 0.1),
	}
	var nls []map[string]any
	for _, n := range newsletterNames {
		if maybe(r, 0.4) {
			nls = append(nls, map[string]any{"name": n, "subscribed": maybe(r, 0.8)})
		}
	}
	var wls []map[string]any
	for _, w := range waitlistNames {
		if maybe(r, 0.25) {
			wls = append(wls, map[string]any{"name": w, "subscribed": maybe(r, 0.8), "fields": map[string]any{"geo": "fr"}})
		}
	}
	b := map[string]any{"email": email, "newsletters": nls, "waitlists": wls}
	if nls == nil {
		b["newsletters"] = []any{}
	}
	if wls == nil {
		b["waitlists"] = []any{}
	}
	if withFxa {
		b["fxa"] = map[string]any{"fxa_id": "fxa-" + uuid.NewString(), "primary_email": "fxa-" + c.email,
			"created_date": time.Now().UTC().Add(-time.Hour).Format("2006-01-02T15:04:05.000000+00:00"),
			"lang":         "en", "first_service": pick(r, []string{"sync", "monitor", "relay"}), "account_deleted": false}
	}
	return b
}

// apiWriter writes its own contacts through `ctms serve`.
type apiWriter struct {
	d      *drill
	r      *rand.Rand
	mine   []*owned
	gone   []*owned // deleted, may be created again
	t      *tally
	pause  time.Duration
	writes *[]benchWrite // bench: every acknowledged write
	wmu    *sync.Mutex
}

func (w *apiWriter) send(ctx context.Context, op, method, path string, body any, want int) bool {
	var b []byte
	if body != nil {
		b, _ = json.Marshal(body)
	}
	st, answer, err := do(ctx, method, w.d.api+path, w.d.token, "application/json", b)
	switch {
	case err != nil:
		w.t.add(op + " error")
	default:
		w.t.add(fmt.Sprintf("%s %d", op, st))
		if st/100 == 4 {
			w.t.sample(fmt.Sprintf("%s %d", op, st), string(answer))
		}
	}
	return err == nil && st == want
}

// forget stops writing c: the outcome of a failed write is unknown.
func (w *apiWriter) forget(c *owned) {
	for i, x := range w.mine {
		if x == c {
			w.mine = append(w.mine[:i], w.mine[i+1:]...)
			return
		}
	}
}

func (w *apiWriter) newContact() *owned {
	id := uuid.NewString()
	return &owned{id: id, email: "n-" + id[:13] + "@example.com"}
}

// step makes one write.
func (w *apiWriter) step(ctx context.Context) {
	r := w.r
	if len(w.mine) == 0 {
		return
	}
	c := pick(r, w.mine)
	switch x := r.Float64(); {
	case x < 0.12: // POST a new contact
		n := w.newContact()
		fxa := maybe(r, 0.3)
		w.d.created.add(n.id)
		if w.send(ctx, "POST /ctms", http.MethodPost, "/ctms", contactBody(r, n, fxa), http.StatusCreated) {
			n.hasFxaID = fxa
			w.mine = append(w.mine, n)
		}
	case x < 0.20: // PUT a new contact
		n := w.newContact()
		w.d.created.add(n.id)
		if w.send(ctx, "PUT /ctms/{id} (create)", http.MethodPut, "/ctms/"+n.id, contactBody(r, n, false), http.StatusCreated) {
			w.mine = append(w.mine, n)
		}
	case x < 0.30: // PUT replacing a contact (without fxa: its row goes, the fxa_id alias stays in Braze)
		if w.send(ctx, "PUT /ctms/{id} (replace)", http.MethodPut, "/ctms/"+c.id, contactBody(r, c, false), http.StatusCreated) {
			c.hasFxaID = false
		} else {
			w.forget(c)
		}
	case x < 0.40: // DELETE
		if w.send(ctx, "DELETE /ctms/{email}", http.MethodDelete, "/ctms/"+url.PathEscape(c.email), nil, http.StatusOK) {
			w.forget(c)
			c.deleted, c.hasFxaID = true, false
			w.gone = append(w.gone, c)
		} else {
			w.forget(c)
		}
	case x < 0.45 && len(w.gone) > 0: // the same email_id created again after its deletion
		g := w.gone[0]
		w.gone = w.gone[1:]
		if w.send(ctx, "PUT /ctms/{id} (re-create)", http.MethodPut, "/ctms/"+g.id, contactBody(r, g, false), http.StatusCreated) {
			g.deleted = false
			w.mine = append(w.mine, g)
		}
	case x < 0.52: // unsubscribe from everything
		b := map[string]any{"email": map[string]any{"unsubscribe_reason": nextVersion(), "has_opted_out_of_email": maybe(r, 0.5)},
			"newsletters": "UNSUBSCRIBE", "waitlists": "UNSUBSCRIBE"}
		if !w.send(ctx, "PATCH /ctms/{id} (unsubscribe all)", http.MethodPatch, "/ctms/"+c.id, b, http.StatusOK) {
			w.forget(c)
		}
	case x < 0.58 && !c.hasFxaID: // an fxa account appears
		b := map[string]any{"email": map[string]any{"unsubscribe_reason": nextVersion()},
			"fxa": map[string]any{"fxa_id": "fxa-" + uuid.NewString(), "primary_email": "fxa-" + c.email, "lang": "de", "first_service": "monitor"}}
		if w.send(ctx, "PATCH /ctms/{id} (fxa)", http.MethodPatch, "/ctms/"+c.id, b, http.StatusOK) {
			c.hasFxaID = true
		} else {
			w.forget(c)
		}
	default: // PATCH some fields and subscriptions
		email := map[string]any{"unsubscribe_reason": nextVersion()}
		for k, v := range map[string]any{"first_name": optStr(r, 0.8, fmt.Sprintf("P%d", r.IntN(1000))),
			"last_name": optStr(r, 0.8, "Patched"), "mailing_country": pick(r, []any{"us", "fr", "ca", nil}),
			"email_lang": pick(r, []any{"en", "fr", "es"}), "double_opt_in": maybe(r, 0.5), "has_opted_out_of_email": maybe(r, 0.1)} {
			if maybe(r, 0.4) {
				email[k] = v
			}
		}
		b := map[string]any{"email": email}
		if maybe(r, 0.7) {
			b["newsletters"] = []map[string]any{{"name": pick(r, newsletterNames), "subscribed": maybe(r, 0.6)}}
		}
		if maybe(r, 0.3) {
			b["waitlists"] = []map[string]any{{"name": pick(r, waitlistNames), "subscribed": maybe(r, 0.6), "fields": map[string]any{"geo": "de"}}}
		}
		if !w.send(ctx, "PATCH /ctms/{id}", http.MethodPatch, "/ctms/"+c.id, b, http.StatusOK) {
			w.forget(c)
		}
	}
}

// sqlWriter writes its own contacts by plain SQL, as psql or another service would: each
// transaction sets emails.update_timestamp = now(), as the Python CTMS does.
type sqlWriter struct {
	d    *drill
	r    *rand.Rand
	mine []*owned
	t    *tally
}

func (s *sqlWriter) take() *owned {
	if len(s.mine) == 0 {
		return nil
	}
	i := s.r.IntN(len(s.mine))
	c := s.mine[i]
	s.mine = append(s.mine[:i], s.mine[i+1:]...)
	return c
}

// write runs one transaction; a contact whose transaction failed is not written again.
func (s *sqlWriter) write(ctx context.Context, op string, fn func(tx pgx.Tx) error) bool {
	err := pgx.BeginFunc(ctx, s.d.pool, fn)
	if err != nil {
		s.t.add("SQL " + op + " error")
		return false
	}
	s.t.add("SQL " + op + " ok")
	return true
}

func (s *sqlWriter) step(ctx context.Context) {
	c := s.take()
	if c == nil {
		return
	}
	r := s.r
	switch x := r.Float64(); {
	case x < 0.6: // change email fields and flip a newsletter
		ok := s.write(ctx, "update", func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, `UPDATE emails SET first_name = $2, mailing_country = $3, unsubscribe_reason = $4,
				update_timestamp = now() WHERE email_id = $1`, c.id, fmt.Sprintf("S%d", r.IntN(1000)), pick(r, []any{"fr", "it", nil}), nextVersion()); err != nil {
				return err
			}
			_, err := tx.Exec(ctx, `INSERT INTO newsletters (email_id, name, subscribed, format, lang, source)
				VALUES ($1, $2, true, 'H', 'en', 'sql') ON CONFLICT (email_id, name) DO UPDATE SET
				subscribed = NOT newsletters.subscribed, update_timestamp = now()`, c.id, pick(r, newsletterNames))
			return err
		})
		if ok {
			s.mine = append(s.mine, c)
		}
	case x < 0.8: // delete it
		s.write(ctx, "delete", func(tx pgx.Tx) error {
			for _, t := range []string{"newsletters", "waitlists", "fxa", "amo", "mofo", "emails"} {
				if _, err := tx.Exec(ctx, "DELETE FROM "+t+" WHERE email_id = $1", c.id); err != nil {
					return err
				}
			}
			return nil
		})
	default: // insert a new contact
		id := uuid.NewString()
		s.d.created.add(id)
		ok := s.write(ctx, "insert", func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, `INSERT INTO emails (email_id, primary_email, unsubscribe_reason, email_lang, double_opt_in)
				VALUES ($1, $2, $3, 'en', true)`, id, "sql-"+id[:13]+"@example.com", nextVersion()); err != nil {
				return err
			}
			_, err := tx.Exec(ctx, `INSERT INTO newsletters (email_id, name, subscribed, format, lang, source)
				VALUES ($1, 'mozilla-and-you', true, 'H', 'en', 'sql')`, id)
			return err
		})
		s.mine = append(s.mine, c)
		if ok {
			s.mine = append(s.mine, &owned{id: id})
		}
	}
}

// readThenWrite reads a contact, holds its transaction 2 s (a slow client, a Python CTMS
// request), then writes it: its update_timestamp is its transaction's start.
func (s *sqlWriter) readThenWrite(ctx context.Context) {
	c := s.take()
	if c == nil {
		return
	}
	ok := s.write(ctx, "read-then-write (2 s)", func(tx pgx.Tx) error {
		var email string
		if err := tx.QueryRow(ctx, "SELECT primary_email FROM emails WHERE email_id = $1", c.id).Scan(&email); err != nil {
			return err
		}
		time.Sleep(2 * time.Second)
		_, err := tx.Exec(ctx, `UPDATE emails SET mailing_country = $2, unsubscribe_reason = $3, update_timestamp = now()
			WHERE email_id = $1`, c.id, pick(s.r, []string{"nl", "be", "pt"}), nextVersion()+" read-then-write")
		return err
	})
	if ok {
		s.mine = append(s.mine, c)
	}
}
