package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
)

// getToken exchanges client credentials for a bearer token (POST /token, form body).
func getToken(ctx context.Context, base, id, secret string) (string, error) {
	form := url.Values{"grant_type": {"client_credentials"}, "client_id": {id}, "client_secret": {secret}}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+"/token", strings.NewReader(form.Encode()))
	if err != nil {
		return "", err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", fmt.Errorf("POST /token: %w", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("POST /token: %d %s", resp.StatusCode, body)
	}
	var t struct {
		AccessToken string `json:"access_token"`
	}
	if err := json.Unmarshal(body, &t); err != nil || t.AccessToken == "" {
		return "", fmt.Errorf("POST /token: no access_token in %s", body)
	}
	return t.AccessToken, nil
}

// result is one POST /ctms.
type result struct {
	start, end time.Time
	id         uuid.UUID
	status     int    // 0: no HTTP response
	err        string // transport error, when status is 0
	hung       bool   // the client timeout expired
}

func (r result) ok() bool { return r.status == http.StatusCreated }

// load is a closed-loop writer: each worker posts a new contact, alternating
// between the targets, until stop.
type load struct {
	targets []string
	token   string
	workers int
	client  *http.Client
	stopc   chan struct{}
	wg      sync.WaitGroup

	mu      sync.Mutex
	results []result
	begun   time.Time
	ended   time.Time
}

func newLoad(targets []string, token string, workers int, timeout time.Duration) *load {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = workers
	return &load{targets: targets, token: token, workers: workers,
		client: &http.Client{Transport: tr, Timeout: timeout}, stopc: make(chan struct{})}
}

func (l *load) start() {
	l.begun = time.Now()
	for w := range l.workers {
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			for n := w; ; n++ {
				select {
				case <-l.stopc:
					return
				default:
				}
				r := l.post(l.targets[n%len(l.targets)])
				l.mu.Lock()
				l.results = append(l.results, r)
				l.mu.Unlock()
				if !r.ok() {
					time.Sleep(50 * time.Millisecond) // a client backing off a little
				}
			}
		}()
	}
}

// stop ends the load after the requests in flight have their answers.
func (l *load) stop() {
	close(l.stopc)
	l.wg.Wait()
	l.ended = time.Now()
}

func (l *load) post(base string) result {
	id := uuid.New()
	body, _ := json.Marshal(map[string]any{"email": map[string]any{
		"email_id": id, "primary_email": "ha-" + id.String() + "@example.com",
	}})
	r := result{id: id, start: time.Now()}
	req, _ := http.NewRequest(http.MethodPost, base+"/ctms", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+l.token)
	resp, err := l.client.Do(req)
	r.end = time.Now()
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) && ue.Timeout() {
			r.hung = true
		}
		r.err = shortError(err)
		return r
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	_ = resp.Body.Close() // drained above
	r.end = time.Now()
	r.status = resp.StatusCode
	return r
}

func shortError(err error) string {
	s := err.Error()
	if i := strings.LastIndex(s, ": "); i >= 0 {
		s = s[i+2:]
	}
	return s
}

// report is what the load saw.
type report struct {
	total                  int
	duration               time.Duration
	acked                  []uuid.UUID // 201
	unknown                []uuid.UUID // failed: the write may or may not have committed
	failed, bad, hung      int
	statuses               map[string]int
	firstFail, lastFail    time.Time
	recovered              time.Time // first success ending after the first failure started
	slowest, slowestFailed time.Duration
}

func (l *load) report(_ time.Time) report {
	l.mu.Lock()
	defer l.mu.Unlock()
	r := report{total: len(l.results), duration: l.ended.Sub(l.begun), statuses: map[string]int{}}
	for _, x := range l.results {
		d := x.end.Sub(x.start)
		r.slowest = max(r.slowest, d)
		if x.ok() {
			r.acked = append(r.acked, x.id)
			continue
		}
		r.failed++
		r.unknown = append(r.unknown, x.id)
		r.slowestFailed = max(r.slowestFailed, d)
		switch {
		case x.hung:
			r.hung++
			r.statuses["timeout"]++
		case x.status == 0:
			r.statuses["connection error: "+x.err]++
		default:
			r.statuses[fmt.Sprint(x.status)]++
			if x.status != http.StatusServiceUnavailable {
				r.bad++
			}
		}
		if r.firstFail.IsZero() || x.start.Before(r.firstFail) {
			r.firstFail = x.start
		}
		if x.end.After(r.lastFail) {
			r.lastFail = x.end
		}
	}
	if r.failed > 0 {
		for _, x := range l.results {
			if x.ok() && x.start.After(r.firstFail) && (r.recovered.IsZero() || x.end.Before(r.recovered)) {
				r.recovered = x.end
			}
		}
	}
	return r
}

func (r report) byStatus() string {
	if len(r.statuses) == 0 {
		return ""
	}
	keys := make([]string, 0, len(r.statuses))
	for k := range r.statuses {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s: %d", k, r.statuses[k])
	}
	return "(" + strings.Join(parts, ", ") + ")"
}
