package main

// The database side of the admin commands: every one of them goes through
// internal/store, which maps database errors (ErrNotFound, ErrConflict,
// ErrUnavailable); the commands turn those into ctms-cli's texts and statuses.

import (
	"context"

	"github.com/ctms-go/ctms/internal/config"
	"github.com/ctms-go/ctms/internal/store"
)

// cliEnv is what a database command works with.
type cliEnv struct {
	cfg *config.Config
	st  *store.Store
	sio stdio
}

// withDB loads the configuration (CTMS_DB_URL and CTMS_SECRET_KEY are
// required, as for the Python CLI), connects, and runs fn.
func withDB(sio stdio, fn func(ctx context.Context, env *cliEnv) error) error {
	cfg, err := config.Load()
	if err != nil {
		return err
	}
	ctx := context.Background()
	st, closeDB, err := store.Connect(ctx, cfg.DBURL)
	if err != nil {
		return err
	}
	defer closeDB()
	return fn(ctx, &cliEnv{cfg: cfg, st: st, sio: sio})
}
