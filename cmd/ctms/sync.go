package main

// `ctms sync`: the service that keeps a Braze workspace equal to CTMS
// (internal/brazesync), and its operator commands.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/ctms-go/ctms/internal/braze"
	"github.com/ctms-go/ctms/internal/brazesync"
	"github.com/ctms-go/ctms/internal/config"
	"github.com/ctms-go/ctms/internal/obs"
	"github.com/ctms-go/ctms/internal/store"
)

type syncCmd struct {
	Run     syncRunCmd     `cmd:"" default:"1" help:"Run the syncer (the default): push every change and deletion to Braze."`
	Status  syncStatusCmd  `cmd:"" help:"Show the backlog, the lag and the dead letters."`
	Retry   syncRetryCmd   `cmd:"" help:"Put the dead letters back into the queue."`
	Resync  syncResyncCmd  `cmd:"" help:"Queue contacts for a push of every attribute."`
	Verify  syncVerifyCmd  `cmd:"" help:"Compare a sample of Braze profiles with CTMS, field by field."`
	Mapping syncMappingCmd `cmd:"" help:"Manage the newsletter → Braze subscription group mapping."`
}

// newESP makes the Braze client of the configuration; its request metrics go to reg.
// Tests replace it with an in-memory ESP.
var newESP = func(b *config.Braze, reg prometheus.Registerer, _ *slog.Logger) (braze.ESP, error) {
	return braze.New(braze.Config{URL: b.URL, APIKey: b.APIKey, Registerer: reg})
}

// loadSync reads the configuration of the sync commands: the common one and Braze's.
func loadSync() (*config.Config, *config.Braze, error) {
	cfg, err := config.Load()
	b, berr := config.LoadBraze(config.LookupEnv)
	if err = errors.Join(err, berr); err != nil {
		return nil, nil, err
	}
	return cfg, b, nil
}

// syncConn opens a session on url (the syncer's leader lock needs a real session:
// not a transaction-pooling PgBouncer).
func syncConn(ctx context.Context, url string) (*pgx.Conn, error) {
	cc, err := pgx.ParseConfig(url)
	if err != nil {
		return nil, err
	}
	if cc.ConnectTimeout == 0 {
		cc.ConnectTimeout = defaultConnectTimeout
	}
	cc.RuntimeParams["timezone"] = "UTC"
	cc.RuntimeParams["application_name"] = "ctms-sync"
	conn, err := pgx.ConnectConfig(ctx, cc)
	if err != nil {
		return nil, err
	}
	_ = store.PrepareConn(ctx, conn) // cannot fail
	return conn, nil
}

type syncRunCmd struct{}

// Run runs the syncer until SIGINT/SIGTERM, with /metrics, /__heartbeat__ and
// /__lbheartbeat__ on CTMS_SYNC_METRICS_HOST:CTMS_SYNC_METRICS_PORT.
func (syncRunCmd) Run(sio stdio) error {
	cfg, b, err := loadSync()
	if err != nil {
		fmt.Fprintf(sio.Err, "Error: invalid configuration:\n%s\n", err)
		return exitCode(1)
	}
	logger := obs.NewLogger(sio.Out, cfg.UseMozlog, cfg.LoggingLevel)
	metrics := brazesync.NewMetrics(nil)
	esp, err := newESP(b, metrics.Registry, logger)
	if err != nil {
		logger.Log(context.Background(), obs.LevelCritical, "ctms sync failed", obs.LoggerKey, "ctms.sync", "error", err.Error())
		return exitCode(1)
	}
	sig := newShutdownSignals()
	defer sig.stop()
	return runSync(sig.first, cfg, b, esp, metrics, logger)
}

// runSync serves the operations endpoints and runs the syncer until ctx ends.
func runSync(ctx context.Context, cfg *config.Config, b *config.Braze, esp braze.ESP, metrics *brazesync.Metrics, logger *slog.Logger) error {
	health := &brazesync.Health{}
	ln, err := net.Listen("tcp", net.JoinHostPort(b.MetricsHost, strconv.Itoa(b.MetricsPort)))
	if err != nil {
		logger.Log(ctx, obs.LevelCritical, "ctms sync failed", obs.LoggerKey, "ctms.sync", "error", err.Error())
		return exitCode(1)
	}
	srv := &http.Server{Handler: syncOpsHandler(metrics.Registry, health), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	defer func() { _ = srv.Close() }()
	logger.Info("ctms sync started", obs.LoggerKey, "ctms.sync", "metrics_addr", ln.Addr().String())
	r := &brazesync.Runner{
		Connect: func(ctx context.Context) (*pgx.Conn, error) { return syncConn(ctx, cfg.DBListenURL) },
		ESP:     esp,
		Health:  health,
		Options: brazesync.Options{
			AliasDelay: b.AliasDelay, MaxRetries: b.MaxRetries, RetryMaxDelay: b.RetryMaxDelay, RepairDelay: b.RepairDelay,
			PollInterval: b.PollInterval, MaxWriteWait: cfg.FeedMaxWriteWait, Logger: logger, Metrics: metrics,
		},
	}
	err = r.Run(ctx)
	logger.Info("ctms sync stopped", obs.LoggerKey, "ctms.sync")
	return err
}

// syncOpsHandler serves /metrics, /__lbheartbeat__ (200 while the process runs) and
// /__heartbeat__ (503 while the database is unreachable or Braze refuses the key).
func syncOpsHandler(reg *prometheus.Registry, h *brazesync.Health) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	mux.HandleFunc("GET /__lbheartbeat__", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte("{}"))
	})
	mux.HandleFunc("GET /__heartbeat__", func(w http.ResponseWriter, _ *http.Request) {
		s := h.Snapshot()
		w.Header().Set("Content-Type", "application/json")
		if !s.Healthy {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
		_ = json.NewEncoder(w).Encode(s)
	})
	return mux
}

// withSyncDB connects to CTMS_DB_URL for an operator command.
func withSyncDB(fn func(ctx context.Context, conn *pgx.Conn) error) error {
	cfg, err := config.Load()
	if err != nil {
		return err
	}
	ctx := context.Background()
	conn, err := syncConn(ctx, cfg.DBURL)
	if err != nil {
		return fmt.Errorf("connect to database: %w", err)
	}
	defer func() { _ = conn.Close(context.WithoutCancel(ctx)) }()
	return fn(ctx, conn)
}

type syncStatusCmd struct {
	Limit int `default:"100" help:"List at most this many dead letters."`
}

func (c syncStatusCmd) Run(sio stdio) error {
	return withSyncDB(func(ctx context.Context, conn *pgx.Conn) error {
		s, err := brazesync.ReadStatus(ctx, conn)
		if err != nil {
			return err
		}
		leader, err := brazesync.LeaderActive(ctx, conn)
		if err != nil {
			return err
		}
		cursors, err := brazesync.Cursors(ctx, conn)
		if err != nil {
			return err
		}
		now := time.Now()
		active := "none (no `ctms sync` holds the leader lock)"
		if leader {
			active = "running"
		}
		fmt.Fprintf(sio.Out, "syncer:      %s\n", active)
		fmt.Fprintf(sio.Out, "backlog:     %d contacts (%d retrying)\n", s.Backlog, s.Retrying)
		if s.Repairs > 0 {
			fmt.Fprintf(sio.Out, "repairs:     %d contacts pushed again soon (the previous leader's latest request)\n", s.Repairs)
		}
		if s.Oldest != nil {
			fmt.Fprintf(sio.Out, "oldest:      %s (%s ago)\n", s.Oldest.UTC().Format(time.RFC3339), now.Sub(*s.Oldest).Round(time.Second))
		}
		for _, c := range cursors {
			fmt.Fprintf(sio.Out, "feed %-10s read up to the change of %s (cursor moved %s ago)\n", c.Feed+":",
				c.Position.UTC().Format(time.RFC3339Nano), now.Sub(c.MovedAt).Round(time.Second))
		}
		fmt.Fprintf(sio.Out, "dead letters: %d\n", s.Dead)
		if s.Dead == 0 {
			return nil
		}
		dead, err := brazesync.DeadLetters(ctx, conn, c.Limit)
		if err != nil {
			return err
		}
		tw := tabwriter.NewWriter(sio.Out, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "email_id\tretries\tlast pushed\tlast error")
		for _, d := range dead {
			last := "never"
			if d.LastPushedAt != nil {
				last = d.LastPushedAt.UTC().Format(time.RFC3339)
			}
			why := ""
			if d.LastError != nil {
				why = *d.LastError
			}
			fmt.Fprintf(tw, "%s\t%d\t%s\t%s\n", d.EmailID, d.Retries, last, why)
		}
		return tw.Flush()
	})
}

type syncRetryCmd struct{}

func (syncRetryCmd) Run(sio stdio) error {
	return withSyncDB(func(ctx context.Context, conn *pgx.Conn) error {
		n, err := brazesync.RetryDead(ctx, conn)
		if err != nil {
			return err
		}
		fmt.Fprintf(sio.Out, "%d dead letters queued again.\n", n)
		return nil
	})
}

type syncResyncCmd struct {
	EmailID []string `name:"email-id" help:"A contact to push again (repeatable)."`
	All     bool     `help:"Push every contact again."`
	Since   string   `placeholder:"TIME" help:"Push the contacts changed since this ISO-8601 time again."`
}

// Validate runs while parsing: bad values are usage errors (exit status 2).
func (c *syncResyncCmd) Validate() error {
	given := 0
	for _, set := range []bool{len(c.EmailID) > 0, c.All, c.Since != ""} {
		if set {
			given++
		}
	}
	if given != 1 {
		return &usageError{msg: "Give exactly one of --email-id, --all, --since."}
	}
	for _, s := range c.EmailID {
		if _, err := uuid.Parse(s); err != nil {
			return invalidValue("--email-id", fmt.Sprintf("'%s' is not a valid UUID.", s))
		}
	}
	if _, err := parseTime(c.Since); c.Since != "" && err != nil {
		return invalidValue("--since", fmt.Sprintf("'%s' is not an ISO-8601 time.", c.Since))
	}
	return nil
}

func (c *syncResyncCmd) Run(sio stdio) error {
	var ids []uuid.UUID
	for _, s := range c.EmailID {
		ids = append(ids, uuid.MustParse(s)) // checked by Validate
	}
	var since *time.Time
	if c.Since != "" {
		t, _ := parseTime(c.Since) // checked by Validate
		since = &t
	}
	return withSyncDB(func(ctx context.Context, conn *pgx.Conn) error {
		n, err := brazesync.Resync(ctx, conn, ids, since)
		if err != nil {
			return err
		}
		fmt.Fprintf(sio.Out, "%d contacts queued for a full push.\n", n)
		return nil
	})
}

// parseTime reads an ISO-8601 time or date (UTC unless it says otherwise).
func parseTime(s string) (time.Time, error) {
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05", "2006-01-02"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t, nil
		}
	}
	return time.Time{}, errors.New("not a time")
}

type syncVerifyCmd struct {
	Sample int  `default:"100" help:"How many random contacts to compare."`
	Repair bool `help:"Queue the drifted contacts for a push of CTMS's state."`
}

// Validate runs while parsing: a usage error (exit status 2).
func (c *syncVerifyCmd) Validate() error {
	if c.Sample < 1 {
		return invalidValue("--sample", "must be at least 1.")
	}
	return nil
}

// Run exits 0 when the sample has no drift, 3 when it has.
func (c *syncVerifyCmd) Run(sio stdio) error {
	_, b, err := loadSync()
	if err != nil {
		fmt.Fprintf(sio.Err, "Error: invalid configuration:\n%s\n", err)
		return exitCode(1)
	}
	esp, err := newESP(b, prometheus.NewRegistry(), obs.NewLogger(sio.Err, false, slog.LevelWarn))
	if err != nil {
		return err
	}
	return withSyncDB(func(ctx context.Context, conn *pgx.Conn) error {
		drifts, n, skipped, err := brazesync.Verify(ctx, conn, esp, c.Sample, c.Repair)
		if err != nil {
			return err
		}
		contacts := map[uuid.UUID]bool{}
		for _, d := range drifts {
			contacts[d.EmailID] = true
			switch {
			case d.NotInBraze:
				fmt.Fprintf(sio.Out, "%s: no profile in Braze\n", d.EmailID)
			case d.Sensitive:
				fmt.Fprintf(sio.Out, "%s: %s differs\n", d.EmailID, d.Field)
			default:
				fmt.Fprintf(sio.Out, "%s: %s: braze %s, ctms %s\n", d.EmailID, d.Field, jsonText(d.Braze), jsonText(d.CTMS))
			}
		}
		fmt.Fprintf(sio.Out, "%d of %d contacts drifted.\n", len(contacts), n)
		if skipped > 0 {
			fmt.Fprintf(sio.Out, "%d contacts of the sample skipped: a push of theirs is due.\n", skipped)
		}
		if len(contacts) == 0 {
			return nil
		}
		if c.Repair {
			fmt.Fprintf(sio.Out, "%d contacts queued for a push of CTMS's state.\n", len(contacts))
		}
		return exitCode(3)
	})
}

func jsonText(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(b)
}

type syncMappingCmd struct {
	Set    syncMappingSetCmd    `cmd:"" help:"Map a newsletter (or waitlist slug <name>-waitlist) to a subscription group."`
	List   syncMappingListCmd   `cmd:"" help:"List the mapping."`
	Delete syncMappingDeleteCmd `cmd:"" help:"Remove a newsletter's mapping."`
}

type syncMappingSetCmd struct {
	Newsletter string `arg:"" help:"Newsletter name, or waitlist slug (<name>-waitlist; vpn: guardian-vpn-waitlist)."`
	Group      string `arg:"" name:"subscription-group-uuid" help:"The Braze subscription group's id."`
	Title      string `help:"Names the newsletter's events (\"<title> - subscribe\"); default: the newsletter's name."`
}

// Validate runs while parsing: bad values are usage errors (exit status 2).
func (c *syncMappingSetCmd) Validate() error {
	if _, err := uuid.Parse(c.Group); err != nil {
		return invalidValue("SUBSCRIPTION_GROUP_UUID", fmt.Sprintf("'%s' is not a valid UUID.", c.Group))
	}
	if c.Newsletter == "" {
		return invalidValue("NEWSLETTER", "must not be empty.")
	}
	return nil
}

func (c *syncMappingSetCmd) Run(sio stdio) error {
	g := uuid.MustParse(c.Group) // checked by Validate
	return withSyncDB(func(ctx context.Context, conn *pgx.Conn) error {
		if err := brazesync.MappingSet(ctx, conn, c.Newsletter, g, c.Title); err != nil {
			return err
		}
		fmt.Fprintf(sio.Out, "Newsletter '%s' mapped to subscription group %s.\n", c.Newsletter, g)
		return nil
	})
}

type syncMappingListCmd struct{}

func (syncMappingListCmd) Run(sio stdio) error {
	return withSyncDB(func(ctx context.Context, conn *pgx.Conn) error {
		rows, err := brazesync.MappingList(ctx, conn)
		if err != nil {
			return err
		}
		tw := tabwriter.NewWriter(sio.Out, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "newsletter\tsubscription group\ttitle")
		for _, r := range rows {
			fmt.Fprintf(tw, "%s\t%s\t%s\n", r.Newsletter, r.SubscriptionGroupID, r.Title)
		}
		return tw.Flush()
	})
}

type syncMappingDeleteCmd struct {
	Newsletter string `arg:""`
}

func (c syncMappingDeleteCmd) Run(sio stdio) error {
	return withSyncDB(func(ctx context.Context, conn *pgx.Conn) error {
		found, err := brazesync.MappingDelete(ctx, conn, c.Newsletter)
		if err != nil {
			return err
		}
		if !found {
			return exitWith(sio, 4, fmt.Sprintf("Newsletter '%s' not mapped.", c.Newsletter))
		}
		fmt.Fprintf(sio.Out, "Newsletter '%s' unmapped.\n", c.Newsletter)
		return nil
	})
}
