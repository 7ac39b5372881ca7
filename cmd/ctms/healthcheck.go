package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/ctms-go/ctms/internal/config"
)

// healthcheckCmd is the container's HEALTHCHECK (the distroless image has no shell or curl):
// GET /__lbheartbeat__ of the server in the same container, exit status 0 on a 200, else 1.
type healthcheckCmd struct {
	URL     string        `help:"URL to GET (default: /__lbheartbeat__ on HOST:PORT, HOST 0.0.0.0 or unset meaning 127.0.0.1, PORT 8000)." placeholder:"URL"`
	Timeout time.Duration `help:"Give up after this long." default:"5s"`
}

// Validate runs while parsing, so a bad --url is a usage error (exit status 2).
func (c *healthcheckCmd) Validate() error {
	if c.URL == "" {
		return nil
	}
	u, err := url.Parse(c.URL)
	if err == nil && (u.Scheme != "http" && u.Scheme != "https" || u.Host == "") {
		err = fmt.Errorf("not an http(s) URL: %q", c.URL)
	}
	if err != nil {
		return invalidValue("--url", err.Error())
	}
	return nil
}

func (c *healthcheckCmd) Run(sio stdio) error {
	target := c.URL
	if target == "" {
		target = defaultHealthcheckURL(config.LookupEnv)
	}
	ctx, cancel := context.WithTimeout(context.Background(), c.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, target, nil)
	if err != nil {
		return err
	}
	rsp, err := http.DefaultClient.Do(req)
	if err != nil {
		fmt.Fprintf(sio.Err, "unhealthy: %v\n", err)
		return exitCode(1)
	}
	defer rsp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(rsp.Body, 1<<16))
	if rsp.StatusCode != http.StatusOK {
		fmt.Fprintf(sio.Err, "unhealthy: GET %s answered %s\n", target, rsp.Status)
		return exitCode(1)
	}
	fmt.Fprintf(sio.Out, "healthy: GET %s answered %s\n", target, rsp.Status)
	return nil
}

// defaultHealthcheckURL is the load-balancer heartbeat of the server `ctms serve` would run
// with this environment (HOST and PORT, as internal/config reads them); a wildcard listen
// address is reached on loopback.
func defaultHealthcheckURL(lookup func(string) (string, bool)) string {
	get := func(name, def string) string {
		for _, n := range []string{name, strings.ToLower(name)} {
			if v, ok := lookup(n); ok && v != "" {
				return v
			}
		}
		return def
	}
	host := get("HOST", "0.0.0.0")
	switch host {
	case "0.0.0.0", "":
		host = "127.0.0.1"
	case "::", "[::]":
		host = "::1"
	}
	port := get("PORT", "8000")
	if _, err := strconv.Atoi(port); err != nil {
		port = "8000"
	}
	return "http://" + net.JoinHostPort(host, port) + "/__lbheartbeat__"
}
