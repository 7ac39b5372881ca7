//go:build ignore

// pgdb is the database work of the scripts, which keep only starting and stopping
// processes (psql may not be installed either):
//
//	go run scripts/pgdb.go ping URL            exit 0 when a server answers a query at URL, 1 otherwise
//	                                           (scripts/testenv.sh: can 5432 host the tests?)
//	go run scripts/pgdb.go createdb URL NAME   create database NAME on URL's server unless it exists
//	                                           (scripts/pg.sh url NAME)
package main

import (
	"context"
	"fmt"
	"os"
	"regexp"
	"time"

	"github.com/jackc/pgx/v5"
)

// dbName is what scripts/pg.sh accepts as a database name (no quoting needed).
var dbName = regexp.MustCompile(`^[a-z_][a-z0-9_]*$`)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "pgdb:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	switch {
	case len(args) == 2 && args[0] == "ping":
		return withConn(args[1], func(ctx context.Context, conn *pgx.Conn) error {
			_, err := conn.Exec(ctx, "SELECT 1")
			return err
		})
	case len(args) == 3 && args[0] == "createdb":
		name := args[2]
		if !dbName.MatchString(name) {
			return fmt.Errorf("invalid database name: %s", name)
		}
		return withConn(args[1], func(ctx context.Context, conn *pgx.Conn) error {
			var exists bool
			if err := conn.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)", name).Scan(&exists); err != nil || exists {
				return err
			}
			fmt.Fprintf(os.Stderr, "pgdb: creating database %s\n", name)
			_, err := conn.Exec(ctx, "CREATE DATABASE "+name) // checked against dbName above
			return err
		})
	}
	fmt.Fprintln(os.Stderr, "usage: go run scripts/pgdb.go ping URL | createdb URL NAME")
	os.Exit(2)
	return nil
}

func withConn(url string, fn func(context.Context, *pgx.Conn) error) error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		return err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	return fn(ctx, conn)
}
