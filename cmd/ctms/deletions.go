package main

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/ctms-go/ctms/internal/config"
	"github.com/ctms-go/ctms/internal/store"
)

// deletionsCmd manages the deletion tombstones (table deletion_tombstones, served by
// GET /deletions).
type deletionsCmd struct {
	Purge deletionsPurgeCmd `cmd:"" help:"Remove the deletion tombstones older than the retention (CTMS_DELETIONS_RETENTION)."`
}

type deletionsPurgeCmd struct {
	OlderThan string `name:"older-than" placeholder:"DURATION" help:"Remove tombstones older than this instead (seconds, ISO-8601 such as P30D, or HH:MM:SS)."`
}

// Help is the detailed --help text (kong.HelpProvider).
func (c *deletionsPurgeCmd) Help() string {
	return "Delete the tombstones of contacts deleted longer ago than CTMS_DELETIONS_RETENTION " +
		"(default 90 days) or --older-than. `ctms serve` does the same every hour."
}

// Validate runs while parsing, so a bad --older-than is a usage error (exit 2).
func (c *deletionsPurgeCmd) Validate() error {
	if c.OlderThan == "" {
		return nil
	}
	if d, err := config.ParseDuration(c.OlderThan); err != nil || d <= 0 {
		return invalidValue("--older-than", "must be a positive duration (seconds, ISO-8601 such as P30D, or HH:MM:SS)")
	}
	return nil
}

func (c *deletionsPurgeCmd) Run(sio stdio) error {
	return withDB(sio, func(ctx context.Context, env *cliEnv) error {
		retention := env.cfg.DeletionsRetention
		if c.OlderThan != "" {
			retention, _ = config.ParseDuration(c.OlderThan) // checked by Validate
		}
		cutoff := time.Now().UTC().Add(-retention)
		n, err := env.st.PurgeDeletions(ctx, cutoff)
		if err != nil {
			return err
		}
		fmt.Fprintf(sio.Out, "Removed %d deletion tombstone(s) older than %s.\n", n, cutoff.Format(time.RFC3339))
		return nil
	})
}

// deletionsPurgeInterval is how often `ctms serve` applies the retention.
const deletionsPurgeInterval = time.Hour

// purgeDeletions applies the retention at start and then every interval until ctx
// ends. Several instances may do it at once: the purge is one idempotent DELETE.
func purgeDeletions(ctx context.Context, st *store.Store, retention, interval time.Duration, log *slog.Logger) {
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		n, err := st.PurgeDeletions(ctx, time.Now().UTC().Add(-retention))
		switch {
		case err != nil && ctx.Err() == nil:
			log.WarnContext(ctx, "deletion tombstones purge failed", "error", err.Error())
		case n > 0:
			log.InfoContext(ctx, "deletion tombstones purged", "count", n, "retention", retention.String())
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// installDeletionHashKey installs CTMS_DELETION_HASH_KEY for the tombstone triggers
// (`ctms migrate`, as the tables' owner: sql/migrations/00008_database_hardening.sql).
// A changed key changes the hashes of later deletions only: consumers of /deletions keep
// the old key for the retention (docs/deployment.md#deletion-hash-key).
func installDeletionHashKey(ctx context.Context, st *store.Store, key string, log *slog.Logger) error {
	changed, err := st.SetDeletionHashKey(ctx, []byte(key))
	if err != nil {
		return fmt.Errorf("install CTMS_DELETION_HASH_KEY: %w", err)
	}
	if changed {
		log.Info("deletion hash key installed: tombstones from now on are hashed with it")
	}
	return nil
}
