package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"time"
)

// failureOnly is the phrase cmd/ctms-dashboards puts in the description of a panel that
// shows data only while something fails.
const failureOnly = "Empty while nothing fails."

// grafanaVars replaces the dashboard variables by what Grafana would send with "All" selected.
var grafanaVars = strings.NewReplacer(
	"$__rate_interval", "1m",
	"$__range", "5m",
	"$instance", ".*",
	"$route", ".*",
)

var labelValues = regexp.MustCompile(`^label_values\((.*),\s*(\w+)\)$`)

type promResponse struct {
	Status string          `json:"status"`
	Error  string          `json:"error"`
	Data   json.RawMessage `json:"data"`
}

func promGet(ctx context.Context, prom, path string, q url.Values) (json.RawMessage, error) {
	st, body, err := do(ctx, http.MethodGet, prom+path+"?"+q.Encode(), "", "", nil)
	if err != nil {
		return nil, err
	}
	var r promResponse
	if err := json.Unmarshal(body, &r); err != nil {
		return nil, fmt.Errorf("%s: status %d: %s", path, st, body)
	}
	if r.Status != "success" {
		return nil, fmt.Errorf("%s", r.Error)
	}
	return r.Data, nil
}

// query evaluates expr now and returns the number of samples.
func query(ctx context.Context, prom, expr string) (int, error) {
	data, err := promGet(ctx, prom, "/api/v1/query", url.Values{"query": {expr}})
	if err != nil {
		return 0, err
	}
	var d struct {
		ResultType string            `json:"resultType"`
		Result     []json.RawMessage `json:"result"`
	}
	if err := json.Unmarshal(data, &d); err != nil {
		return 0, err
	}
	if d.ResultType == "scalar" {
		return 1, nil
	}
	return len(d.Result), nil
}

type panel struct {
	Title       string  `json:"title"`
	Description string  `json:"description"`
	Panels      []panel `json:"panels"`
	Targets     []struct {
		Expr string `json:"expr"`
	} `json:"targets"`
}

type check struct {
	where, expr string
	mayBeEmpty  bool
}

func dashboardChecks(dir string) ([]check, int, error) {
	files, err := filepath.Glob(filepath.Join(dir, "*.json"))
	if err != nil || len(files) == 0 {
		return nil, 0, fmt.Errorf("no dashboards in %s", dir)
	}
	var checks []check
	panels := 0
	for _, f := range files {
		raw, err := os.ReadFile(f) // #nosec G304 G703 -- the repository's own dashboards (a glob of -dashboards)
		if err != nil {
			return nil, 0, err
		}
		var d struct {
			Title      string  `json:"title"`
			Panels     []panel `json:"panels"`
			Templating struct {
				List []struct {
					Name  string `json:"name"`
					Type  string `json:"type"`
					Query any    `json:"query"`
				} `json:"list"`
			} `json:"templating"`
		}
		if err := json.Unmarshal(raw, &d); err != nil {
			return nil, 0, fmt.Errorf("%s: %w", f, err)
		}
		for _, v := range d.Templating.List {
			if v.Type != "query" {
				continue
			}
			s, _ := v.Query.(string)
			m := labelValues.FindStringSubmatch(s)
			if m == nil {
				return nil, 0, fmt.Errorf("%s: variable %s: unsupported query %q", d.Title, v.Name, s)
			}
			checks = append(checks, check{where: d.Title + " / variable " + v.Name, expr: "count by (" + m[2] + ") (" + m[1] + ")"})
		}
		var walk func([]panel)
		walk = func(ps []panel) {
			for _, p := range ps {
				walk(p.Panels)
				if len(p.Targets) == 0 {
					continue
				}
				panels++
				for _, t := range p.Targets {
					checks = append(checks, check{where: d.Title + " / " + p.Title, expr: grafanaVars.Replace(t.Expr),
						mayBeEmpty: strings.Contains(p.Description, failureOnly)})
				}
			}
		}
		walk(d.Panels)
	}
	return checks, panels, nil
}

type rule struct {
	Name      string `json:"name"`
	Query     string `json:"query"`
	Type      string `json:"type"`
	Health    string `json:"health"`
	LastError string `json:"lastError"`
	State     string `json:"state"`
}

func rules(ctx context.Context, prom string) ([]rule, error) {
	data, err := promGet(ctx, prom, "/api/v1/rules", url.Values{})
	if err != nil {
		return nil, err
	}
	var d struct {
		Groups []struct {
			Rules []rule `json:"rules"`
		} `json:"groups"`
	}
	if err := json.Unmarshal(data, &d); err != nil {
		return nil, err
	}
	var out []rule
	for _, g := range d.Groups {
		out = append(out, g.Rules...)
	}
	return out, nil
}

func runCheck(ctx context.Context, prom, dir string) error {
	checks, panels, err := dashboardChecks(dir)
	if err != nil {
		return err
	}
	rs, err := rules(ctx, prom)
	if err != nil {
		return err
	}
	recording, alerting := 0, 0
	var problems []string
	for _, r := range rs {
		switch r.Type {
		case "recording":
			recording++
			checks = append(checks, check{where: "recording rule " + r.Name, expr: r.Query}, check{where: "recorded series", expr: r.Name})
		case "alerting":
			alerting++
			if r.Health != "ok" {
				problems = append(problems, fmt.Sprintf("alert rule %s: health %q %s", r.Name, r.Health, r.LastError))
			}
		}
	}
	if recording == 0 || alerting == 0 {
		return fmt.Errorf("Prometheus loaded %d recording and %d alerting rules", recording, alerting)
	}
	withData, emptyOK := 0, 0
	for _, c := range checks {
		n, err := query(ctx, prom, c.expr)
		switch {
		case err != nil:
			problems = append(problems, fmt.Sprintf("%s: %s: %v", c.where, c.expr, err))
		case n > 0:
			withData++
			if c.mayBeEmpty {
				fmt.Printf("  failure-only panel with data: %s (%d series)\n", c.where, n)
			}
		case c.mayBeEmpty:
			emptyOK++
			fmt.Printf("  failure-only panel empty, as expected: %s\n", c.where)
		default:
			problems = append(problems, fmt.Sprintf("%s: no data: %s", c.where, c.expr))
		}
	}
	fmt.Printf("check: %d dashboard panels; %d expressions (panel queries, variables, %d recording rules and their series) evaluated: %d with data, %d empty by design (failure-only panels); %d alert rules healthy of %d\n",
		panels, len(checks), recording, withData, emptyOK, alerting-countAlertProblems(problems), alerting)
	sort.Strings(problems)
	for _, p := range problems {
		fmt.Println("  FAIL", p)
	}
	if len(problems) > 0 {
		return fmt.Errorf("%d problems", len(problems))
	}
	return nil
}

func countAlertProblems(ps []string) int {
	n := 0
	for _, p := range ps {
		if strings.HasPrefix(p, "alert rule ") {
			n++
		}
	}
	return n
}

// waitAlert polls the rules until the alert is pending or firing.
func waitAlert(ctx context.Context, prom, name string, timeout time.Duration) error {
	start := time.Now()
	for time.Since(start) < timeout {
		rs, err := rules(ctx, prom)
		if err != nil {
			return err
		}
		for _, r := range rs {
			if r.Name == name && (r.State == "pending" || r.State == "firing") {
				fmt.Printf("wait-alert: %s is %s after %.1f s\n", name, r.State, time.Since(start).Seconds())
				return nil
			}
		}
		time.Sleep(time.Second)
	}
	return fmt.Errorf("%s neither pending nor firing after %s", name, timeout)
}
