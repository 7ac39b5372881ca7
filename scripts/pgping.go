//go:build ignore

// pgping exits 0 when a PostgreSQL server answers a query at the given URL, 1 otherwise.
// scripts/test.sh uses it to decide whether a local server can host the tests; psql may
// not be installed.
//
//	go run scripts/pgping.go postgresql://postgres@127.0.0.1:5432/postgres
package main

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/jackc/pgx/v5"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: go run scripts/pgping.go URL")
		os.Exit(2)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, os.Args[1])
	if err == nil {
		_, err = conn.Exec(ctx, "SELECT 1")
		_ = conn.Close(ctx)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "pgping:", err)
		os.Exit(1)
	}
}
