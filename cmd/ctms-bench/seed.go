package main

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// The seeded contacts are a pure function of their index n: the id, the primary e-mail and
// the basket token are derived from n by formulas that wrk's Lua scripts (wrk.go) and
// pgbench's SQL (ceiling.go) compute as cheaply, so neither needs a lookup table; the other
// fields come from a generator seeded with (seed, n).

var (
	firstNames = []string{"james", "mary", "robert", "patricia", "john", "jennifer", "michael", "linda",
		"david", "elizabeth", "william", "barbara", "richard", "susan", "joseph", "jessica", "thomas",
		"sarah", "charles", "karen", "amelie", "lukas", "sofia", "mateo", "yuki", "haruto", "aarav",
		"ananya", "olga", "ivan", "fatima", "omar", "chloe", "louis", "emma", "noah", "mia", "leon"}
	lastNames = []string{"smith", "johnson", "williams", "brown", "jones", "garcia", "miller", "davis",
		"rodriguez", "martinez", "hernandez", "lopez", "gonzalez", "wilson", "anderson", "thomas",
		"taylor", "moore", "jackson", "martin", "lee", "perez", "thompson", "white", "harris",
		"muller", "schmidt", "schneider", "fischer", "dubois", "lefebvre", "moreau", "rossi",
		"russo", "tanaka", "suzuki", "kowalski", "nowak", "ivanova", "silva"}
	countries = []string{"us", "us", "us", "de", "de", "fr", "fr", "gb", "ca", "br", "in", "jp", "pl", "es", "it"}
	langs     = []string{"en", "en", "en", "de", "de", "fr", "fr", "en", "en", "pt", "en", "ja", "pl", "es", "it"}

	newsletterNames = []string{"mozilla-and-you", "firefox-news", "mozilla-foundation", "about-mozilla",
		"firefox-accounts-journey", "knowledge-is-power", "mozilla-festival", "security-privacy-news",
		"take-action-for-the-internet", "app-dev", "mozilla-welcome", "internet-health-report"}
	newsletterSources = []string{"https://www.mozilla.org/en-US/newsletter/",
		"https://www.mozilla.org/en-US/firefox/new/", "https://foundation.mozilla.org/en/",
		"https://www.mozilla.org/de/newsletter/firefox/", "https://accounts.firefox.com/"}
	waitlistNames = []string{"vpn", "relay", "relay-vpn-bundle", "monitor-plus", "mdn-plus", "fakespot"}
	platforms     = []string{"windows", "mac", "linux", "android", "ios", "windows,android", "ios,mac"}
	services      = []string{"sync", "monitor", "relay", "vpn", "pocket", "firefox-ios"}
)

// seedBase and seedSpan place timestamps between 2021-01-01 and 2024-01-01.
var (
	seedBase = time.Date(2021, 1, 1, 0, 0, 0, 0, time.UTC)
	seedSpan = int64(3 * 365 * 24 * time.Hour / time.Microsecond)
)

// The derived identifiers (a version-4 UUID whose last 48 bits are n). The Lua and SQL
// spellings of the same formulas are luaPrelude (wrk.go) and idExpr/emailExpr (ceiling.go).
const (
	idPrefix    = "00000000-0000-4000-8000-"
	tokenPrefix = "00000000-0000-4000-9000-"
)

func contactID(n int) uuid.UUID { return uuid.MustParse(fmt.Sprintf("%s%012x", idPrefix, n)) }

func contactEmail(n int) string { return "bench" + strconv.Itoa(n) + "@example.com" }

func contactToken(n int) string { return fmt.Sprintf("%s%012x", tokenPrefix, n) }

type seedNewsletter struct {
	name       string
	subscribed bool
	lang       string
	source     string
	created    time.Time
	updated    time.Time
}

type seedWaitlist struct {
	name    string
	source  string
	fields  string // JSON object
	created time.Time
	updated time.Time
}

type seedFxa struct {
	fxaID, email, createdDate, lang, firstService string
}

type seedAmo struct {
	addOnIDs, displayName, language, location, profileURL, userID, username string
	lastLogin                                                               time.Time
}

type seedMofo struct {
	emailID, contactID string
	relevant           bool
}

// seedContact is one generated contact with realistic field sizes.
type seedContact struct {
	id               uuid.UUID
	email            string
	token            string
	sfdcID           *string
	first, last      string
	country, lang    string
	optedOut         bool
	doubleOptIn      bool
	created, updated time.Time
	newsletters      []seedNewsletter
	waitlists        []seedWaitlist
	fxa              *seedFxa
	amo              *seedAmo
	mofo             *seedMofo
}

func randomTime(r *rand.Rand, from time.Time, span int64) time.Time {
	if span <= 0 {
		return from
	}
	return from.Add(time.Duration(r.Int64N(span)) * time.Microsecond)
}

func hex32(r *rand.Rand, i int) string {
	return fmt.Sprintf("%08x%016x%08x", uint32(i), r.Uint64(), r.Uint32()) // #nosec G115 -- wraps on purpose: synthetic ids
}

// genContact generates contact i. Every contact has 1-4 newsletters and one waitlist
// (a quarter two); about 30% have an FxA account, 10% an AMO account, 8% MoFo data.
func genContact(seed uint64, i int) seedContact {
	r := rand.New(rand.NewPCG(seed, uint64(i))) // #nosec G115 G404 -- deterministic synthetic data
	c := seedContact{id: contactID(i), email: contactEmail(i), token: contactToken(i)}
	c.first, c.last = firstNames[r.IntN(len(firstNames))], lastNames[r.IntN(len(lastNames))]
	if r.IntN(10) < 6 {
		s := "001" + strconv.FormatUint(r.Uint64(), 36)
		if len(s) > 18 {
			s = s[:18]
		}
		c.sfdcID = &s
	}
	k := r.IntN(len(countries))
	c.country, c.lang = countries[k], langs[k]
	c.optedOut = r.IntN(50) == 0
	c.doubleOptIn = r.IntN(10) < 7
	c.created = randomTime(r, seedBase, seedSpan)
	c.updated = randomTime(r, c.created, seedSpan-int64(c.created.Sub(seedBase)/time.Microsecond))

	n := 1 + r.IntN(4)
	perm := r.Perm(len(newsletterNames))
	for j := range n {
		created := randomTime(r, c.created, int64(c.updated.Sub(c.created)/time.Microsecond))
		c.newsletters = append(c.newsletters, seedNewsletter{
			name: newsletterNames[perm[j]], subscribed: r.IntN(10) != 0, lang: c.lang,
			source: newsletterSources[r.IntN(len(newsletterSources))], created: created, updated: created,
		})
	}
	w := 1
	if r.IntN(4) == 0 {
		w = 2
	}
	perm = r.Perm(len(waitlistNames))
	for j := range w {
		name := waitlistNames[perm[j]]
		fields := `{"geo": "` + c.country + `"}`
		if name != "relay" {
			fields = `{"geo": "` + c.country + `", "platform": "` + platforms[r.IntN(len(platforms))] + `"}`
		}
		created := randomTime(r, c.created, int64(c.updated.Sub(c.created)/time.Microsecond))
		c.waitlists = append(c.waitlists, seedWaitlist{name: name,
			source: "https://www.mozilla.org/en-US/products/" + name + "/", fields: fields, created: created, updated: created})
	}
	if r.IntN(10) < 3 {
		email := c.email
		if r.IntN(10) == 0 {
			email = c.first + "." + c.last + strconv.Itoa(i) + "@fxa.example.com"
		}
		c.fxa = &seedFxa{fxaID: hex32(r, i), email: email,
			createdDate: c.created.Format("2006-01-02T15:04:05.000000+00:00"),
			lang:        c.lang + "," + c.lang + "-" + c.country + ";q=0.7,en;q=0.3", firstService: services[r.IntN(len(services))]}
	}
	if r.IntN(10) == 0 {
		uid := strconv.Itoa(10000 + i)
		c.amo = &seedAmo{addOnIDs: strconv.Itoa(r.IntN(999999)) + "," + strconv.Itoa(r.IntN(999999)),
			displayName: c.first + " " + c.last, language: c.lang, location: "Berlin, Germany",
			profileURL: "firefox/user/" + uid, userID: uid, username: c.first + uid,
			lastLogin: randomTime(r, c.created, int64(c.updated.Sub(c.created)/time.Microsecond)).Truncate(24 * time.Hour)}
	}
	if r.IntN(100) < 8 {
		c.mofo = &seedMofo{emailID: hex32(r, i), contactID: uuid.UUID(newUUIDFrom(r)).String(), relevant: r.IntN(10) < 7}
	}
	return c
}

func newUUIDFrom(r *rand.Rand) [16]byte {
	var b [16]byte
	binary.LittleEndian.PutUint64(b[:8], r.Uint64())
	binary.LittleEndian.PutUint64(b[8:], r.Uint64())
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return b
}

// rowSource streams rows to CopyFrom: for each contact index, rowsOf appends its rows.
type rowSource struct {
	seed    uint64
	n, next int
	rowsOf  func(c *seedContact, out [][]any) [][]any
	pending [][]any
	cur     []any
}

func (s *rowSource) Next() bool {
	for len(s.pending) == 0 {
		if s.next >= s.n {
			return false
		}
		c := genContact(s.seed, s.next)
		s.next++
		s.pending = s.rowsOf(&c, s.pending[:0])
	}
	s.cur, s.pending = s.pending[0], s.pending[1:]
	return true
}

func (s *rowSource) Values() ([]any, error) { return s.cur, nil }
func (s *rowSource) Err() error             { return nil }

type copyTable struct {
	name   string
	cols   []string
	rowsOf func(c *seedContact, out [][]any) [][]any
}

var seedTables = []copyTable{
	{"emails", []string{"email_id", "primary_email", "basket_token", "sfdc_id", "first_name", "last_name",
		"mailing_country", "email_format", "email_lang", "has_opted_out_of_email", "unsubscribe_reason",
		"create_timestamp", "update_timestamp", "double_opt_in"},
		func(c *seedContact, out [][]any) [][]any {
			return append(out, []any{c.id, c.email, c.token, c.sfdcID, c.first, c.last, c.country, "H", c.lang,
				c.optedOut, nil, c.created, c.updated, c.doubleOptIn})
		}},
	{"newsletters", []string{"email_id", "name", "subscribed", "format", "lang", "source", "unsub_reason",
		"create_timestamp", "update_timestamp"},
		func(c *seedContact, out [][]any) [][]any {
			for _, n := range c.newsletters {
				out = append(out, []any{c.id, n.name, n.subscribed, "H", n.lang, n.source, nil, n.created, n.updated})
			}
			return out
		}},
	{"waitlists", []string{"email_id", "name", "source", "fields", "subscribed", "unsub_reason",
		"create_timestamp", "update_timestamp"},
		func(c *seedContact, out [][]any) [][]any {
			for _, w := range c.waitlists {
				out = append(out, []any{c.id, w.name, w.source, w.fields, true, nil, w.created, w.updated})
			}
			return out
		}},
	{"fxa", []string{"email_id", "fxa_id", "primary_email", "created_date", "lang", "first_service",
		"account_deleted", "create_timestamp", "update_timestamp"},
		func(c *seedContact, out [][]any) [][]any {
			if f := c.fxa; f != nil {
				out = append(out, []any{c.id, f.fxaID, f.email, f.createdDate, f.lang, f.firstService, false, c.created, c.updated})
			}
			return out
		}},
	{"amo", []string{"email_id", "add_on_ids", "display_name", "email_opt_in", "language", "last_login",
		"location", "profile_url", "user", "user_id", "username", "create_timestamp", "update_timestamp"},
		func(c *seedContact, out [][]any) [][]any {
			if a := c.amo; a != nil {
				out = append(out, []any{c.id, a.addOnIDs, a.displayName, true, a.language, a.lastLogin,
					a.location, a.profileURL, true, a.userID, a.username, c.created, c.updated})
			}
			return out
		}},
	{"mofo", []string{"email_id", "mofo_email_id", "mofo_contact_id", "mofo_relevant", "create_timestamp", "update_timestamp"},
		func(c *seedContact, out [][]any) [][]any {
			if m := c.mofo; m != nil {
				out = append(out, []any{c.id, m.emailID, m.contactID, m.relevant, c.created, c.updated})
			}
			return out
		}},
}

// seedContacts loads n contacts with COPY: emails first, then the child tables in
// parallel (foreign-key triggers off when the role may do so), then VACUUM ANALYZE.
func seedContacts(ctx context.Context, dbURL string, n int, seed uint64) error {
	pc, err := pgxpool.ParseConfig(dbURL)
	if err != nil {
		return err
	}
	pc.MaxConns = 4
	pc.ConnConfig.RuntimeParams["timezone"] = "UTC"
	pc.ConnConfig.RuntimeParams["application_name"] = "ctms-bench-seed"
	pool, err := pgxpool.NewWithConfig(ctx, pc)
	if err != nil {
		return err
	}
	defer pool.Close()

	copyOne := func(t copyTable) error {
		conn, err := pool.Acquire(ctx)
		if err != nil {
			return err
		}
		defer conn.Release()
		// Skips the foreign-key triggers (superuser only; the rows are consistent by construction).
		if _, err := conn.Exec(ctx, "SET session_replication_role = replica"); err == nil {
			defer conn.Exec(context.Background(), "RESET session_replication_role")
		}
		start := time.Now()
		rows, err := conn.CopyFrom(ctx, pgx.Identifier{t.name}, t.cols, &rowSource{seed: seed, n: n, rowsOf: t.rowsOf})
		if err != nil {
			return fmt.Errorf("copy %s: %w", t.name, err)
		}
		logf("  %-11s %8d rows in %s", t.name, rows, time.Since(start).Round(100*time.Millisecond))
		return nil
	}
	logf("seeding %d contacts with COPY", n)
	if err := copyOne(seedTables[0]); err != nil {
		return err
	}
	// Three at a time: the pool has four connections and the machine may have two cores.
	var wg sync.WaitGroup
	errs := make([]error, len(seedTables))
	sem := make(chan struct{}, 3)
	for i, t := range seedTables[1:] {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			errs[i] = copyOne(t)
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return err
	}
	start := time.Now()
	if _, err := pool.Exec(ctx, "VACUUM (ANALYZE)"); err != nil {
		return fmt.Errorf("vacuum analyze: %w", err)
	}
	logf("  VACUUM (ANALYZE) in %s", time.Since(start).Round(100*time.Millisecond))
	return nil
}

// vacuumAnalyze runs VACUUM (ANALYZE) on database dbURL: with a baseline, every database
// again right before the first measured run, so that all start from the same state.
func vacuumAnalyze(ctx context.Context, dbURL string) error {
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	start := time.Now()
	if _, err := conn.Exec(ctx, "VACUUM (ANALYZE)"); err != nil {
		return fmt.Errorf("vacuum analyze: %w", err)
	}
	logf("%s: VACUUM (ANALYZE) in %s", conn.Config().Database, time.Since(start).Round(100*time.Millisecond))
	return nil
}
