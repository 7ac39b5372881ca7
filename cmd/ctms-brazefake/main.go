// Command ctms-brazefake serves internal/brazefake, a Braze-compatible REST server, as a
// process, for drills such as `make sync-test` (never for production). It prints
// "listening on http://ADDR" once it accepts connections, serves the Braze endpoints plus
// GET /_state, GET /_counters and PUT /_faults (internal/brazefake/doc.go), and exits 0 on
// SIGINT or SIGTERM.
//
//	ctms-brazefake [-listen 127.0.0.1:0] [-api-key KEY]
//	    [-server-error-rate P] [-timeout-rate P] [-drop-rate P] [-rate-limit-rate P] [-hang 10s]
//	    [-seed N] [-track-limit 3000/3s] [-delete-alias-limit 20000/1m] [-export-limit 250/1m]
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/ctms-go/ctms/internal/brazefake"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "ctms-brazefake:", err)
		os.Exit(1)
	}
}

// limitFlag is a brazefake.Limit written "N/duration", e.g. "3000/3s".
type limitFlag struct{ l *brazefake.Limit }

func (f limitFlag) String() string {
	if f.l == nil {
		return ""
	}
	return fmt.Sprintf("%d/%s", f.l.Requests, f.l.Window)
}

func (f limitFlag) Set(s string) error {
	n, w, ok := strings.Cut(s, "/")
	requests, err := strconv.Atoi(n)
	if !ok || err != nil || requests <= 0 {
		return fmt.Errorf("want N/duration, e.g. 3000/3s")
	}
	window, err := time.ParseDuration(w)
	if err != nil || window <= 0 {
		return fmt.Errorf("want N/duration, e.g. 3000/3s")
	}
	*f.l = brazefake.Limit{Requests: requests, Window: window}
	return nil
}

func run(ctx context.Context, args []string, stdout io.Writer) error {
	o := brazefake.Options{
		TrackLimit:       brazefake.DefaultTrackLimit,
		DeleteAliasLimit: brazefake.DefaultDeleteAliasLimit,
		ExportLimit:      brazefake.DefaultExportLimit,
	}
	fs := flag.NewFlagSet("ctms-brazefake", flag.ContinueOnError)
	listen := fs.String("listen", "127.0.0.1:0", "address to listen on")
	fs.StringVar(&o.APIKey, "api-key", "brazefake-key", "the REST API key accepted (Bearer)")
	fs.Float64Var(&o.Faults.ServerError, "server-error-rate", 0, "probability of a 500 (nothing applied)")
	fs.Float64Var(&o.Faults.Timeout, "timeout-rate", 0, "probability of a request held for -hang then 504 (nothing applied)")
	fs.Float64Var(&o.Faults.Drop, "drop-rate", 0, "probability of a request applied then its connection reset unanswered")
	fs.Float64Var(&o.Faults.RateLimit, "rate-limit-rate", 0, "probability of a 429 (nothing applied)")
	fs.DurationVar(&o.Faults.Hang, "hang", 10*time.Second, "how long a timeout fault holds its request")
	fs.Uint64Var(&o.Seed, "seed", uint64(time.Now().UnixNano()), "seed of the fault draws") // #nosec G115 -- any 64 bits make a seed
	fs.Var(limitFlag{&o.TrackLimit}, "track-limit", "rate limit of /users/track (N/duration)")
	fs.Var(limitFlag{&o.DeleteAliasLimit}, "delete-alias-limit", "rate limit shared by /users/delete and /users/alias/new")
	fs.Var(limitFlag{&o.ExportLimit}, "export-limit", "rate limit of /users/export/ids")
	if err := fs.Parse(args); err != nil {
		return err
	}
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: brazefake.New(o), ReadHeaderTimeout: 10 * time.Second}
	fmt.Fprintf(stdout, "listening on http://%s\n", ln.Addr())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
	}
	shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdown); err != nil {
		return err
	}
	if err := <-done; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
