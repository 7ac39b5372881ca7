// Command ctms-opstest is the Go half of `make ops-test` (scripts/ops-test.sh), which starts
// PostgreSQL, PgBouncer (transaction pooling), two `ctms serve` instances behind it and a
// Prometheus scraping them, all on 127.0.0.1. Subcommands:
//
//	ctms-opstest load -a URL -b URL -client-id ID -client-secret S [-duration 20s] [-workers 6]
//	    mixed traffic on both instances (writes, reads, 404, 422, heartbeats, refused logins)
//	    while a consumer follows GET /updates; fails on any 5xx, transport error or
//	    unexpected status, and when the consumer missed an acknowledged write.
//	ctms-opstest check -prom URL -dashboards DIR
//	    evaluates every PromQL expression of every dashboard panel and variable, every
//	    recording rule, and checks every alert rule is healthy.
//	ctms-opstest wait-alert -prom URL -alert NAME [-timeout 60s]
//	    waits until the alert is pending or firing.
//
// Only loopback URLs are accepted.
package main

import (
	"context"
	"flag"
	"fmt"
	"net/url"
	"os"
	"time"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: ctms-opstest load|check|wait-alert [flags]")
		os.Exit(2)
	}
	fs := flag.NewFlagSet(os.Args[1], flag.ExitOnError)
	a := fs.String("a", "", "base URL of instance A")
	b := fs.String("b", "", "base URL of instance B")
	id := fs.String("client-id", "", "API client id")
	secret := fs.String("client-secret", "", "API client secret")
	duration := fs.Duration("duration", 20*time.Second, "load duration")
	workers := fs.Int("workers", 6, "concurrent load workers")
	prom := fs.String("prom", "", "Prometheus base URL")
	dashboards := fs.String("dashboards", "deploy/grafana", "directory of the dashboard JSON files")
	alert := fs.String("alert", "", "alert name")
	timeout := fs.Duration("timeout", 60*time.Second, "how long to wait for the alert")
	_ = fs.Parse(os.Args[2:])
	for _, u := range []string{*a, *b, *prom} {
		if u != "" && !loopback(u) {
			fmt.Fprintf(os.Stderr, "ctms-opstest: %s is not a 127.0.0.1 URL\n", u)
			os.Exit(2)
		}
	}
	ctx := context.Background()
	var err error
	switch os.Args[1] {
	case "load":
		err = runLoad(ctx, loadOptions{targets: []string{*a, *b}, clientID: *id, secret: *secret, duration: *duration, workers: *workers})
	case "check":
		err = runCheck(ctx, *prom, *dashboards)
	case "wait-alert":
		err = waitAlert(ctx, *prom, *alert, *timeout)
	default:
		err = fmt.Errorf("unknown subcommand %q", os.Args[1])
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "ctms-opstest:", err)
		os.Exit(1)
	}
}

func loopback(raw string) bool {
	u, err := url.Parse(raw)
	return err == nil && u.Hostname() == "127.0.0.1"
}
