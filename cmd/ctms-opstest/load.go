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
	"sync/atomic"
	"time"

	"github.com/google/uuid"
)

type loadOptions struct {
	targets          []string
	clientID, secret string
	duration         time.Duration
	workers          int
}

var client = &http.Client{Timeout: 30 * time.Second}

// tally counts requests by "name status" and keeps the unexpected ones.
type tally struct {
	mu         sync.Mutex
	counts     map[string]int
	unexpected []string
}

func (t *tally) add(name string, status int, want []int, err error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	key := fmt.Sprintf("%s %d", name, status)
	if err != nil {
		key = name + " error"
	}
	t.counts[key]++
	ok := err == nil
	if ok {
		ok = false
		for _, w := range want {
			ok = ok || status == w
		}
	}
	if !ok && len(t.unexpected) < 20 {
		t.unexpected = append(t.unexpected, fmt.Sprintf("%s: status %d, error %v", name, status, err))
	}
	if !ok {
		t.counts["unexpected"]++
	}
}

func do(ctx context.Context, method, u, token, contentType string, body []byte) (int, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, method, u, bytes.NewReader(body)) // #nosec G704 -- loopback only, checked below
	if err != nil {
		return 0, nil, err
	}
	if req.URL.Hostname() != "127.0.0.1" {
		return 0, nil, fmt.Errorf("%s is not a 127.0.0.1 URL", u)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := client.Do(req) // #nosec G704 -- only to 127.0.0.1 (checked above)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, b, err
}

func login(ctx context.Context, base, id, secret string) (int, string, error) {
	form := url.Values{"grant_type": {"client_credentials"}, "client_id": {id}, "client_secret": {secret}}
	if id == "" {
		form = url.Values{}
	}
	st, body, err := do(ctx, http.MethodPost, base+"/token", "", "application/x-www-form-urlencoded", []byte(form.Encode()))
	var t struct {
		AccessToken string `json:"access_token"`
	}
	_ = json.Unmarshal(body, &t)
	return st, t.AccessToken, err
}

func runLoad(ctx context.Context, o loadOptions) error {
	t := &tally{counts: map[string]int{}}
	st, token, err := login(ctx, o.targets[0], o.clientID, o.secret)
	if err != nil || st != http.StatusOK {
		return fmt.Errorf("POST /token: %d %v", st, err)
	}
	t.add("POST /token", st, []int{200}, nil)
	// Refused logins of each reason, few enough to stay under the /token throttle
	// (internal/httpapi/throttle.go); a 429 is a refusal too.
	refused := []int{400, 429}
	for _, base := range o.targets {
		st, _, err = login(ctx, base, "", "")
		t.add("POST /token (no credentials)", st, refused, err)
		st, _, err = login(ctx, base, "id_unknown_"+uuid.NewString()[:8], "secret_wrong")
		t.add("POST /token (unknown client)", st, refused, err)
		st, _, err = login(ctx, base, o.clientID, "secret_wrong")
		t.add("POST /token (bad secret)", st, refused, err)
	}

	var (
		ackMu sync.Mutex
		acked []string
		stop  atomic.Bool
		wg    sync.WaitGroup
	)
	startFeed := time.Now().UTC().Add(-time.Second).Format("2006-01-02T15:04:05.000000+00:00")
	deadline := time.Now().Add(o.duration)
	for w := range o.workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; time.Now().Before(deadline) && i < 100_000; i++ {
				base := o.targets[(w+i)%len(o.targets)]
				id := uuid.NewString()
				body := fmt.Sprintf(`{"email":{"email_id":%q,"primary_email":"ops-%s@example.com"}}`, id, id)
				st, _, err := do(ctx, http.MethodPost, base+"/ctms", token, "application/json", []byte(body))
				t.add("POST /ctms", st, []int{201}, err)
				if err == nil && st == http.StatusCreated {
					ackMu.Lock()
					acked = append(acked, id)
					ackMu.Unlock()
				}
				other := o.targets[(w+i+1)%len(o.targets)]
				st, _, err = do(ctx, http.MethodGet, other+"/ctms/"+id, token, "", nil)
				t.add("GET /ctms/{email_id}", st, []int{200}, err)
				st, _, err = do(ctx, http.MethodPatch, other+"/ctms/"+id, token, "application/json", []byte(`{"email":{"first_name":"Ops"}}`))
				t.add("PATCH /ctms/{email_id}", st, []int{200}, err)
				st, _, err = do(ctx, http.MethodGet, base+"/ctms/"+uuid.NewString(), token, "", nil)
				t.add("GET /ctms/{email_id} (unknown)", st, []int{404}, err)
				st, _, err = do(ctx, http.MethodPost, base+"/ctms", token, "application/json", []byte(`{"email":`))
				t.add("POST /ctms (invalid)", st, []int{422}, err)
				st, _, err = do(ctx, http.MethodGet, base+"/__heartbeat__", "", "", nil)
				t.add("GET /__heartbeat__", st, []int{200}, err)
				st, _, err = do(ctx, http.MethodGet, base+"/__lbheartbeat__", "", "", nil)
				t.add("GET /__lbheartbeat__", st, []int{200}, err)
			}
		}()
	}

	// The consumer follows the feed as a client would: each poll starts where the last
	// one ended (the default end), alternating between the instances.
	seen := map[string]bool{}
	var feedErr error
	polls := 0
	feedDone := make(chan struct{})
	go func() {
		defer close(feedDone)
		start := startFeed
		for i := 0; i < 10_000; i++ {
			last := stop.Load()
			end, ids, err := pollUpdates(ctx, o.targets[i%len(o.targets)], token, start)
			polls++
			t.add("GET /updates", statusOf(err), []int{200}, nil)
			if err != nil {
				feedErr = err
				return
			}
			for _, id := range ids {
				seen[id] = true
			}
			start = end
			if last {
				return
			}
			time.Sleep(300 * time.Millisecond)
		}
	}()
	wg.Wait()
	stop.Store(true)
	<-feedDone

	keys := make([]string, 0, len(t.counts))
	for k := range t.counts {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	total := 0
	for _, k := range keys {
		if k != "unexpected" {
			total += t.counts[k]
		}
		fmt.Printf("  %-40s %6d\n", k, t.counts[k])
	}
	missed := 0
	for _, id := range acked {
		if !seen[id] {
			missed++
		}
	}
	fmt.Printf("load: %d requests, %d unexpected; %d acknowledged writes, %d /updates polls, %d writes missed by the feed consumer\n",
		total, t.counts["unexpected"], len(acked), polls, missed)
	for _, u := range t.unexpected {
		fmt.Println("  unexpected:", u)
	}
	switch {
	case feedErr != nil:
		return fmt.Errorf("/updates consumer: %w", feedErr)
	case t.counts["unexpected"] > 0:
		return fmt.Errorf("%d unexpected responses", t.counts["unexpected"])
	case missed > 0:
		return fmt.Errorf("the /updates consumer missed %d acknowledged writes", missed)
	case len(acked) == 0:
		return fmt.Errorf("no write was acknowledged")
	}
	return nil
}

type statusError int

func (e statusError) Error() string { return fmt.Sprintf("status %d", int(e)) }

func statusOf(err error) int {
	if se, ok := errors.AsType[statusError](err); ok {
		return int(se)
	}
	if err != nil {
		return 0
	}
	return 200
}

// pollUpdates pages GET /updates from start to its default end; it returns that end
// and the email ids seen.
func pollUpdates(ctx context.Context, base, token, start string) (string, []string, error) {
	q := url.Values{"start": {start}, "limit": {"1000"}}
	var ids []string
	for range 1000 {
		st, body, err := do(ctx, http.MethodGet, base+"/updates?"+q.Encode(), token, "", nil)
		if err != nil {
			return "", nil, err
		}
		if st != http.StatusOK {
			return "", nil, fmt.Errorf("%w: %s", statusError(st), strings.TrimSpace(string(body)))
		}
		var page struct {
			End   string  `json:"end"`
			After *string `json:"after"`
			Items []struct {
				Email struct {
					EmailID string `json:"email_id"`
				} `json:"email"`
			} `json:"items"`
		}
		if err := json.Unmarshal(body, &page); err != nil {
			return "", nil, err
		}
		for _, it := range page.Items {
			ids = append(ids, it.Email.EmailID)
		}
		if page.After == nil {
			return page.End, ids, nil
		}
		q.Set("end", page.End)
		q.Set("after", *page.After)
	}
	return "", nil, fmt.Errorf("/updates: more than 1000 pages")
}
