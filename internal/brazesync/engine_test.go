package brazesync_test

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/ctms-go/ctms/internal/braze"
	"github.com/ctms-go/ctms/internal/brazesync"
	"github.com/ctms-go/ctms/internal/contact"
	"github.com/ctms-go/ctms/internal/store"
	"github.com/ctms-go/ctms/internal/testdb"
)

func TestMain(m *testing.M) { os.Exit(testdb.Run(m)) }

func sp(s string) *string { return &s }

// clock is the engine's injected time.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time      { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *clock) add(d time.Duration) { c.mu.Lock(); defer c.mu.Unlock(); c.now = c.now.Add(d) }

// env is a fresh database, an engine on a connection of its own, and writers.
type env struct {
	t     testing.TB
	url   string
	pool  *pgxpool.Pool // the writers' (the API's store, psql-like statements)
	conn  *pgx.Conn     // the engine's
	st    *store.Store
	esp   *memESP
	clock *clock
	e     *brazesync.Engine
}

var ctx = context.Background()

func connect(t testing.TB, url string) *pgx.Conn {
	t.Helper()
	cc, err := pgx.ParseConfig(url)
	if err != nil {
		t.Fatal(err)
	}
	cc.RuntimeParams["timezone"] = "UTC"
	conn, err := pgx.ConnectConfig(ctx, cc)
	if err != nil {
		t.Fatal(err)
	}
	_ = store.PrepareConn(ctx, conn)
	t.Cleanup(func() { _ = conn.Close(ctx) })
	return conn
}

func newEnv(t testing.TB, opt brazesync.Options) *env {
	t.Helper()
	url := testdb.NewDatabase(t)
	pc, err := pgxpool.ParseConfig(url)
	if err != nil {
		t.Fatal(err)
	}
	pc.AfterConnect = store.PrepareConn
	pc.ConnConfig.RuntimeParams["timezone"] = "UTC"
	pool, err := pgxpool.NewWithConfig(ctx, pc)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	v := &env{t: t, url: url, pool: pool, st: store.New(pool), esp: newMemESP(),
		clock: &clock{now: time.Now().UTC()}}
	v.conn = connect(t, url)
	opt.Now = v.clock.Now
	v.e = brazesync.NewEngine(v.conn, v.esp, opt)
	return v
}

// step runs steps until one finds nothing to do.
func (v *env) step() {
	v.t.Helper()
	for range 50 {
		worked, err := v.e.Step(ctx)
		if err != nil {
			v.t.Fatalf("step: %v", err)
		}
		if !worked {
			return
		}
	}
	v.t.Fatal("the engine never went idle")
}

func (v *env) create(email string, change func(c *contact.Contact)) *contact.Contact {
	v.t.Helper()
	token := uuid.New()
	c := &contact.Contact{
		Email: contact.Email{EmailID: uuid.New(), PrimaryEmail: email, BasketToken: &token, EmailFormat: "H",
			EmailLang: sp("en"), MailingCountry: sp("us"), FirstName: sp("Ann")},
		Newsletters: []contact.Newsletter{{Name: "mozilla-and-you", Subscribed: true, Format: "H", Lang: sp("en")}},
	}
	if change != nil {
		change(c)
	}
	stored, _, err := v.st.Create(ctx, c)
	if err != nil {
		v.t.Fatal(err)
	}
	return stored
}

// replace stores c changed by change (as PUT does).
func (v *env) replace(c *contact.Contact, change func(c *contact.Contact)) *contact.Contact {
	v.t.Helper()
	next := c.Clone()
	change(next)
	stored, err := v.st.Replace(ctx, next)
	if err != nil {
		v.t.Fatal(err)
	}
	return stored
}

func (v *env) exec(sql string, args ...any) {
	v.t.Helper()
	testdb.Exec(v.t, v.pool, sql, args...)
}

func (v *env) mapping(newsletter string, group uuid.UUID, title string) {
	v.t.Helper()
	if err := brazesync.MappingSet(ctx, v.pool, newsletter, group, title); err != nil {
		v.t.Fatal(err)
	}
}

var groupNews = uuid.MustParse("aaaaaaaa-0000-4000-8000-000000000001")

// TestPushFromEveryWriter: contacts created and changed through the store (the API's
// write path) and by plain SQL (psql, a Python CTMS) reach Braze, with what changed.
func TestPushFromEveryWriter(t *testing.T) {
	v := newEnv(t, brazesync.Options{})
	v.mapping("mozilla-and-you", groupNews, "Firefox News")
	api := v.create("api@example.com", nil)
	sqlID := uuid.New()
	v.exec(`INSERT INTO emails (email_id, primary_email, email_lang, mailing_country, has_opted_out_of_email, double_opt_in)
		VALUES ($1, 'psql@example.com', 'fr', 'fr', false, true)`, sqlID)
	v.exec(`INSERT INTO newsletters (email_id, name, subscribed) VALUES ($1, 'mozilla-and-you', true)`, sqlID)
	v.step()

	p := v.esp.profile(api.Email.EmailID.String())
	if p == nil || p["email"] != "api@example.com" || p["email_subscribe"] != "subscribed" || p["first_name"] != "Ann" {
		t.Fatalf("API contact's profile: %v", p)
	}
	q := v.esp.profile(sqlID.String())
	if q == nil || q["email"] != "psql@example.com" || q["email_subscribe"] != "opted_in" || q["country"] != "fr" {
		t.Fatalf("psql contact's profile: %v", q)
	}
	if g := fmt.Sprint(q["subscription_groups"]); !strings.Contains(g, groupNews.String()) || !strings.Contains(g, "subscribed") {
		t.Errorf("subscription groups %s", g)
	}
	if ev := v.esp.eventNames(sqlID.String()); !slices.Equal(ev, []string{"Firefox News - subscribe"}) {
		t.Errorf("events %v", ev)
	}

	// Changes: a PUT through the store, an UPDATE by psql.
	v.replace(api, func(c *contact.Contact) { c.Email.HasOptedOutOfEmail = true })
	v.exec(`UPDATE emails SET first_name = 'Zoé', update_timestamp = now() WHERE email_id = $1`, sqlID)
	v.step()
	if p := v.esp.profile(api.Email.EmailID.String()); p["email_subscribe"] != "unsubscribed" {
		t.Errorf("opt-out not pushed: %v", p["email_subscribe"])
	}
	if q := v.esp.profile(sqlID.String()); q["first_name"] != "Zoé" {
		t.Errorf("psql change not pushed: %v", q["first_name"])
	}
}

// lastTrack is the attributes object of id in the last Track call that had one.
type recordingESP struct {
	*memESP
	mu    sync.Mutex
	attrs []map[string]any
}

func (r *recordingESP) Track(ctx context.Context, attrs []braze.Attributes, events []braze.Event) ([]braze.MinorError, error) {
	r.mu.Lock()
	for _, a := range attrs {
		r.attrs = append(r.attrs, normal(a))
	}
	r.mu.Unlock()
	return r.memESP.Track(ctx, attrs, events)
}

func (r *recordingESP) sent(id string) []map[string]any {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []map[string]any
	for _, a := range r.attrs {
		if a["external_id"] == id {
			out = append(out, a)
		}
	}
	return out
}

func newRecordingEnv(t *testing.T, opt brazesync.Options) (*env, *recordingESP) {
	v := newEnv(t, opt)
	rec := &recordingESP{memESP: v.esp}
	opt.Now = v.clock.Now
	v.e = brazesync.NewEngine(v.conn, rec, opt)
	return v, rec
}

// TestMergedChangesAndBillableFields: several changes before a push become one push
// of the latest state; billable fields go only when new or changed; events only
// for the newsletters whose state changed.
func TestMergedChangesAndBillableFields(t *testing.T) {
	v, rec := newRecordingEnv(t, brazesync.Options{})
	v.mapping("mozilla-and-you", groupNews, "Firefox News")
	c := v.create("merge@example.com", nil)
	c = v.replace(c, func(c *contact.Contact) { c.Email.FirstName = sp("Bea") })
	c = v.replace(c, func(c *contact.Contact) { c.Email.LastName = sp("Smith") })
	v.step()
	id := c.Email.EmailID.String()
	sent := rec.sent(id)
	if len(sent) != 1 {
		t.Fatalf("%d pushes of three changes, want 1: %v", len(sent), sent)
	}
	if sent[0]["first_name"] != "Bea" || sent[0]["last_name"] != "Smith" || sent[0]["_update_existing_only"] != false {
		t.Errorf("first push %v", sent[0])
	}

	c = v.replace(c, func(c *contact.Contact) { c.Email.UnsubscribeReason = sp("none") })
	v.step()
	sent = rec.sent(id)
	if len(sent) != 2 {
		t.Fatalf("%d pushes, want 2", len(sent))
	}
	for _, f := range []string{"first_name", "last_name", "country", "language"} {
		if _, ok := sent[1][f]; ok {
			t.Errorf("unchanged billable field %s sent again: %v", f, sent[1])
		}
	}
	if sent[1]["_update_existing_only"] != true {
		t.Errorf("_update_existing_only %v after the first push", sent[1]["_update_existing_only"])
	}

	v.replace(c, func(c *contact.Contact) {
		c.Email.MailingCountry = sp("de")
		c.Newsletters[0].Subscribed = false
	})
	v.step()
	sent = rec.sent(id)
	if len(sent) != 3 || sent[2]["country"] != "de" {
		t.Fatalf("changed country not sent: %v", sent)
	}
	if _, ok := sent[2]["first_name"]; ok {
		t.Errorf("unchanged first_name sent: %v", sent[2])
	}
	if ev := v.esp.eventNames(id); !slices.Equal(ev, []string{"Firefox News - subscribe", "Firefox News - unsubscribe"}) {
		t.Errorf("events %v", ev)
	}

	// Nothing new: a step sends nothing.
	v.exec(`UPDATE braze_sync_contacts SET pending = true, seq = seq + 1, pending_since = now()`)
	v.step()
	if n := len(rec.sent(id)); n != 3 {
		t.Errorf("a push of an unchanged state: %d pushes", n)
	}
}

// TestLateCommitNotSkipped: a contact written by a transaction that started before,
// and committed after, a later contact's is still pushed (the /updates guard).
func TestLateCommitNotSkipped(t *testing.T) {
	v := newEnv(t, brazesync.Options{})
	late := uuid.New()
	tx, err := v.pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = tx.Rollback(ctx) }()
	if _, err := tx.Exec(ctx, `INSERT INTO emails (email_id, primary_email) VALUES ($1, 'late@example.com')`, late); err != nil {
		t.Fatal(err)
	}
	early := v.create("early@example.com", nil) // commits first, with a later update_timestamp
	v.step()
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	v.step()
	for _, id := range []uuid.UUID{late, early.Email.EmailID} {
		if v.esp.profile(id.String()) == nil {
			t.Errorf("contact %s never pushed", id)
		}
	}
}

// TestDeletionsPushed: a deletion deletes the profile; a contact deleted and created
// again (same email_id) before the push is deleted, then created afresh.
func TestDeletionsPushed(t *testing.T) {
	v := newEnv(t, brazesync.Options{})
	gone := v.create("gone@example.com", nil)
	back := v.create("back@example.com", nil)
	v.step()
	if _, err := v.st.DeleteByPrimaryEmail(ctx, "gone@example.com", "id_test"); err != nil {
		t.Fatal(err)
	}
	if _, err := v.st.DeleteByPrimaryEmail(ctx, "back@example.com", "id_test"); err != nil {
		t.Fatal(err)
	}
	again := back.Clone()
	again.Email.FirstName = sp("Reborn")
	if _, _, err := v.st.Create(ctx, again); err != nil {
		t.Fatal(err)
	}
	calls := len(v.esp.callList())
	v.step()
	if p := v.esp.profile(gone.Email.EmailID.String()); p != nil {
		t.Errorf("deleted contact's profile still there: %v", p)
	}
	p := v.esp.profile(back.Email.EmailID.String())
	if p == nil || p["first_name"] != "Reborn" {
		t.Fatalf("re-created contact's profile: %v", p)
	}
	if got := v.esp.callList()[calls:]; len(got) < 2 || got[0] != "delete" || got[1] != "track" {
		t.Errorf("calls %v, want the deletion before the push", got)
	}
	// The deleted contact's row is gone; the other's holds its new profile.
	var rows, pending int
	if err := v.pool.QueryRow(ctx, `SELECT count(*), count(*) FILTER (WHERE pending) FROM braze_sync_contacts`).Scan(&rows, &pending); err != nil || rows != 1 || pending != 0 {
		t.Errorf("%d rows, %d pending (%v), want 1 row (the re-created contact's), none pending", rows, pending, err)
	}
}

// TestMappingLive: a mapping set while the engine runs applies to the next push.
func TestMappingLive(t *testing.T) {
	v := newEnv(t, brazesync.Options{})
	c := v.create("live@example.com", nil)
	v.step()
	id := c.Email.EmailID.String()
	if g := v.esp.profile(id)["subscription_groups"]; fmt.Sprint(g) != "[]" {
		t.Fatalf("groups %v before any mapping", g)
	}
	v.mapping("mozilla-and-you", groupNews, "")
	c = v.replace(c, func(c *contact.Contact) { c.Email.FirstName = sp("Mapped") })
	v.step()
	if g := fmt.Sprint(v.esp.profile(id)["subscription_groups"]); !strings.Contains(g, groupNews.String()) {
		t.Errorf("groups %v after the mapping", g)
	}
	v.replace(c, func(c *contact.Contact) { c.Newsletters[0].Subscribed = false })
	v.step()
	// The default title is the newsletter's name.
	if ev := v.esp.eventNames(id); !slices.Equal(ev, []string{"mozilla-and-you - unsubscribe"}) {
		t.Errorf("events %v", ev)
	}
	if found, err := brazesync.MappingDelete(ctx, v.pool, "mozilla-and-you"); err != nil || !found {
		t.Fatal(found, err)
	}
}

// TestAliasesAfterDelay: the fxa_id and basket_token aliases are added no sooner
// than the alias delay after the profile's creation, once.
func TestAliasesAfterDelay(t *testing.T) {
	v := newEnv(t, brazesync.Options{AliasDelay: 5 * time.Minute})
	c := v.create("alias@example.com", func(c *contact.Contact) {
		c.Fxa = &contact.FirefoxAccounts{FxaID: sp("fxa-123")}
	})
	v.step()
	v.clock.add(4*time.Minute + 59*time.Second)
	v.step()
	if slices.Contains(v.esp.callList(), "alias") {
		t.Fatal("aliases added before the delay")
	}
	v.clock.add(time.Second)
	v.step()
	v.clock.add(time.Hour)
	v.step()
	want := []braze.Alias{
		{ExternalID: c.Email.EmailID.String(), Label: "basket_token", Name: c.Email.BasketToken.String()},
		{ExternalID: c.Email.EmailID.String(), Label: "fxa_id", Name: "fxa-123"},
	}
	if !slices.Equal(v.esp.aliases, want) {
		t.Errorf("aliases %v, want %v (once)", v.esp.aliases, want)
	}
	// A new fxa_id later: its alias is added (the profile is older than the delay).
	v.replace(c, func(c *contact.Contact) { c.Fxa.FxaID = sp("fxa-456") })
	v.step()
	if got := v.esp.aliases[len(v.esp.aliases)-1]; got.Name != "fxa-456" || len(v.esp.aliases) != 3 {
		t.Errorf("aliases %v", v.esp.aliases)
	}
}

// TestMinorErrorsRetriedThenParked: an object Braze rejects leaves the rest of the
// batch applied; its contact is retried with back-off, parked past the retry limit
// with its last error (no address in it), listed, and `retry` queues it again.
func TestMinorErrorsRetriedThenParked(t *testing.T) {
	v := newEnv(t, brazesync.Options{MaxRetries: 3, RetryMaxDelay: time.Minute})
	bad := v.create("bad@example.com", nil)
	good := v.create("good@example.com", nil)
	badID := bad.Email.EmailID.String()
	v.esp.minor = func(attrs []braze.Attributes, _ []braze.Event) []braze.MinorError {
		var out []braze.MinorError
		for i, a := range attrs {
			if a["external_id"] == badID {
				out = append(out, braze.MinorError{InputArray: "attributes", Index: i, Type: "'email' bad@example.com is invalid"})
			}
		}
		return out
	}
	for range 3 {
		v.step()
		v.clock.add(2 * time.Minute)
	}
	if v.esp.profile(good.Email.EmailID.String()) == nil {
		t.Fatal("the rest of the batch was not applied")
	}
	if v.esp.profile(badID) != nil {
		t.Fatal("the rejected object was applied")
	}
	dead, err := brazesync.DeadLetters(ctx, v.pool, 10)
	if err != nil || len(dead) != 1 || dead[0].EmailID != bad.Email.EmailID || dead[0].Retries != 3 {
		t.Fatalf("dead letters %+v, %v", dead, err)
	}
	if msg := *dead[0].LastError; !strings.Contains(msg, "invalid") || strings.Contains(msg, "@") {
		t.Errorf("last error %q: want Braze's reason without the address", msg)
	}
	s, err := brazesync.ReadStatus(ctx, v.pool)
	if err != nil || s.Dead != 1 || s.Backlog != 0 {
		t.Errorf("status %+v, %v", s, err)
	}
	tracks := len(v.esp.callList())
	v.step()
	if len(v.esp.callList()) != tracks {
		t.Error("a dead letter was pushed again without `retry`")
	}
	v.esp.minor = nil
	if n, err := brazesync.RetryDead(ctx, v.pool); err != nil || n != 1 {
		t.Fatal(n, err)
	}
	v.step()
	if v.esp.profile(badID) == nil {
		t.Error("the retried dead letter was not pushed")
	}
}

// TestRequestErrorsBackOff: a failed request charges its contacts a retry and is
// tried again after the back-off; nothing is recorded as pushed meanwhile.
func TestRequestErrorsBackOff(t *testing.T) {
	v := newEnv(t, brazesync.Options{MaxRetries: 5})
	c := v.create("flaky@example.com", nil)
	v.esp.setErr(espError("braze: 503"))
	if _, err := v.e.Step(ctx); err == nil {
		t.Fatal("no error from a failed step")
	}
	v.esp.setErr(nil)
	v.step()
	if v.esp.profile(c.Email.EmailID.String()) != nil {
		t.Fatal("retried before its back-off")
	}
	v.clock.add(3 * time.Second)
	v.step()
	if v.esp.profile(c.Email.EmailID.String()) == nil {
		t.Fatal("not retried after the back-off")
	}
}

// TestAuthErrorStops: a refused key stops the step without charging the contacts.
func TestAuthErrorStops(t *testing.T) {
	v := newEnv(t, brazesync.Options{MaxRetries: 1})
	v.create("auth@example.com", nil)
	v.esp.setErr(fmt.Errorf("%w (401)", braze.ErrAuth))
	for range 3 {
		if _, err := v.e.Step(ctx); err == nil || !strings.Contains(err.Error(), "refused") {
			t.Fatalf("step: %v, want ErrAuth", err)
		}
	}
	s, err := brazesync.ReadStatus(ctx, v.pool)
	if err != nil || s.Dead != 0 || s.Backlog != 1 || s.Retrying != 0 {
		t.Errorf("status %+v (%v): a refused key must not park or charge contacts", s, err)
	}
}

// TestBatchLimits: a backfill goes in batches within Braze's limits (the memESP
// refuses larger ones), every contact pushed once.
func TestBatchLimits(t *testing.T) {
	v := newEnv(t, brazesync.Options{FeedPage: 70})
	v.mapping("mozilla-and-you", groupNews, "News")
	v.exec(`INSERT INTO emails (email_id, primary_email) SELECT uuid_generate_v4(), 'bulk' || i || '@example.com' FROM generate_series(1, 400) i`)
	v.exec(`INSERT INTO newsletters (email_id, name, subscribed) SELECT email_id, 'mozilla-and-you', true FROM emails`)
	v.step()
	if n := len(v.esp.profiles); n != 400 {
		t.Errorf("%d profiles, want 400", n)
	}
	v.exec(`DELETE FROM newsletters`)
	v.exec(`DELETE FROM emails`)
	v.step()
	if n := len(v.esp.profiles); n != 0 {
		t.Errorf("%d profiles left after deleting every contact", n)
	}
}

// hookESP runs a hook during each Track call, before Braze answers.
type hookESP struct {
	*memESP
	hook func()
}

func (h *hookESP) Track(ctx context.Context, attrs []braze.Attributes, events []braze.Event) ([]braze.MinorError, error) {
	if h.hook != nil {
		h.hook()
	}
	return h.memESP.Track(ctx, attrs, events)
}

// TestQueuedDuringPushNotLost: a contact queued again while its push is in flight (a
// `ctms sync resync` beside the syncer) stays queued after the push's acknowledgement.
func TestQueuedDuringPushNotLost(t *testing.T) {
	v := newEnv(t, brazesync.Options{})
	h := &hookESP{memESP: v.esp}
	v.e = brazesync.NewEngine(v.conn, h, brazesync.Options{Now: v.clock.Now})
	c := v.create("inflight@example.com", nil)
	h.hook = func() {
		h.hook = nil
		if _, err := brazesync.Resync(ctx, v.pool, []uuid.UUID{c.Email.EmailID}, nil); err != nil {
			t.Error(err)
		}
	}
	v.step()
	if n := v.esp.tracked[c.Email.EmailID.String()]; n != 2 {
		t.Errorf("pushed %d times, want 2 (the resync's full push)", n)
	}
}

// TestVerify: drift is reported field by field (a changed attribute, a missing alias,
// a missing profile); contacts with a push due are skipped; --repair queues the
// drifted ones for a full push, after which nothing drifts.
func TestVerify(t *testing.T) {
	v := newEnv(t, brazesync.Options{})
	v.mapping("mozilla-and-you", groupNews, "News")
	a := v.create("a@example.com", nil)
	b := v.create("b@example.com", nil)
	c := v.create("c@example.com", nil)
	v.step()
	v.clock.add(time.Hour)
	v.step() // the aliases
	v.esp.mu.Lock()
	v.esp.profiles[a.Email.EmailID.String()]["email_subscribe"] = "unsubscribed"
	delete(v.esp.profiles[a.Email.EmailID.String()], "user_aliases")
	delete(v.esp.profiles, b.Email.EmailID.String())
	v.esp.mu.Unlock()
	v.replace(c, func(c *contact.Contact) { c.Email.FirstName = sp("Pending") })
	v.step() // queues c (capture) and pushes it: make it due again without capture
	v.exec(`UPDATE braze_sync_contacts SET pending = true, seq = seq + 1, pending_since = now() WHERE email_id = $1`, c.Email.EmailID)

	drifts, compared, skipped, err := brazesync.Verify(ctx, v.conn, v.esp, 10, false)
	if err != nil {
		t.Fatal(err)
	}
	if compared != 2 || skipped != 1 {
		t.Errorf("compared %d, skipped %d; want 2 and 1 (the contact with a push due)", compared, skipped)
	}
	var got []string
	for _, d := range drifts {
		got = append(got, fmt.Sprintf("%s %s %v", d.EmailID, d.Field, d.NotInBraze))
	}
	slices.Sort(got)
	want := []string{
		fmt.Sprintf("%s alias basket_token false", a.Email.EmailID),
		fmt.Sprintf("%s email_subscribe false", a.Email.EmailID),
		fmt.Sprintf("%s profile true", b.Email.EmailID),
	}
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("drifts\n%v\nwant\n%v", got, want)
	}
	if _, _, _, err := brazesync.Verify(ctx, v.conn, v.esp, 10, true); err != nil {
		t.Fatal(err)
	}
	v.step()
	v.clock.add(time.Hour)
	v.step()
	drifts, _, _, err = brazesync.Verify(ctx, v.conn, v.esp, 10, false)
	if err != nil || len(drifts) != 0 {
		t.Errorf("after the repair: %+v, %v", drifts, err)
	}
}

// TestBackfillWithoutEvents: the backfill of docs/operations.md for profiles Braze
// already holds: pushed with no mapping, then mapped and resynced, every profile gets
// its subscription group and no subscribe event.
func TestBackfillWithoutEvents(t *testing.T) {
	v := newEnv(t, brazesync.Options{})
	c := v.create("known@example.com", nil)
	v.step()
	v.mapping("mozilla-and-you", groupNews, "News")
	if n, err := brazesync.Resync(ctx, v.pool, nil, nil); err != nil || n != 1 {
		t.Fatal(n, err)
	}
	v.step()
	id := c.Email.EmailID.String()
	if g := fmt.Sprint(v.esp.profile(id)["subscription_groups"]); !strings.Contains(g, groupNews.String()) {
		t.Errorf("groups %s", g)
	}
	if ev := v.esp.eventNames(id); len(ev) != 0 {
		t.Errorf("events %v, want none", ev)
	}
}

// BenchmarkBackfill pushes BRAZE_BACKFILL_CONTACTS (default 20,000) contacts, each with
// a mapped newsletter, from a fresh cursor to an in-memory ESP, and reports the rate:
// the syncer's own cost (database reads and records), Braze's latency aside.
// go test ./internal/brazesync -run '^$' -bench Backfill -benchtime 1x
func BenchmarkBackfill(b *testing.B) {
	n := 20000
	if s := os.Getenv("BRAZE_BACKFILL_CONTACTS"); s != "" {
		fmt.Sscan(s, &n)
	}
	v := newEnv(b, brazesync.Options{AliasDelay: 5 * time.Minute}) // the default: aliases come later
	v.mapping("mozilla-and-you", groupNews, "News")
	v.exec(`INSERT INTO emails (email_id, primary_email, basket_token, first_name, mailing_country, email_lang)
		SELECT uuid_generate_v4(), 'bulk' || i || '@example.com', uuid_generate_v4()::text, 'Ann', 'us', 'en'
		FROM generate_series(1, $1::int) i`, n)
	v.exec(`INSERT INTO newsletters (email_id, name, subscribed) SELECT email_id, 'mozilla-and-you', true FROM emails`)
	v.exec(`ANALYZE`)
	b.ResetTimer()
	start := time.Now()
	for {
		worked, err := v.e.Step(ctx)
		if err != nil {
			b.Fatal(err)
		}
		if !worked {
			break
		}
	}
	elapsed := time.Since(start)
	b.StopTimer()
	if len(v.esp.profiles) != n {
		b.Fatalf("%d profiles, want %d", len(v.esp.profiles), n)
	}
	b.ReportMetric(float64(n)/elapsed.Seconds(), "contacts/s")
}

// TestRejectedAliasNotRetriedForever: an alias Braze rejects (held by another
// profile) leaves the others added and is not tried again at every step (which
// would hold the whole syncer in back-off); its reason is kept.
func TestRejectedAliasNotRetriedForever(t *testing.T) {
	v := newEnv(t, brazesync.Options{})
	v.esp.rejectAlias = func(a braze.Alias) string {
		if a.Label == "fxa_id" {
			return "alias already taken"
		}
		return ""
	}
	c := v.create("taken@example.com", func(c *contact.Contact) { c.Fxa = &contact.FirefoxAccounts{FxaID: sp("taken")} })
	other := v.create("fine@example.com", nil)
	v.step()
	calls := len(v.esp.callList())
	v.clock.add(time.Hour)
	v.step()
	if got := len(v.esp.callList()); got != calls {
		t.Errorf("%d more requests after the rejection", got-calls)
	}
	if len(v.esp.aliases) != 2 || v.esp.aliases[0].ExternalID == v.esp.aliases[1].ExternalID {
		t.Errorf("aliases added %v: want both basket_tokens", v.esp.aliases)
	}
	var why string
	if err := v.pool.QueryRow(ctx, `SELECT coalesce(last_error, '') FROM braze_sync_contacts WHERE email_id = $1`, c.Email.EmailID).Scan(&why); err != nil || !strings.Contains(why, "alias fxa_id") {
		t.Errorf("last error %q (%v)", why, err)
	}
	_ = other
}
