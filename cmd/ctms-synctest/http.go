package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

var httpClient = &http.Client{
	Timeout:   30 * time.Second,
	Transport: &http.Transport{MaxIdleConnsPerHost: 64, MaxConnsPerHost: 64},
}

// do sends a request to a loopback URL and answers the status and body.
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
	resp, err := httpClient.Do(req) // #nosec G704 -- only to 127.0.0.1 (checked above)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, b, err
}

func get(ctx context.Context, u string) (int, []byte, error) {
	return do(ctx, http.MethodGet, u, "", "", nil)
}

func getToken(ctx context.Context, base, id, secret string) (string, error) {
	form := url.Values{"grant_type": {"client_credentials"}, "client_id": {id}, "client_secret": {secret}}
	st, body, err := do(ctx, http.MethodPost, base+"/token", "", "application/x-www-form-urlencoded", []byte(form.Encode()))
	if err != nil || st != http.StatusOK {
		return "", fmt.Errorf("POST /token: %d %v", st, err)
	}
	var t struct {
		AccessToken string `json:"access_token"`
	}
	if err := json.Unmarshal(body, &t); err != nil || t.AccessToken == "" {
		return "", fmt.Errorf("POST /token: no access_token")
	}
	return t.AccessToken, nil
}

// metric reads one unlabelled sample from a Prometheus text exposition.
func metric(ctx context.Context, metricsURL, name string) (float64, error) {
	st, body, err := get(ctx, metricsURL)
	if err != nil || st != http.StatusOK {
		return 0, fmt.Errorf("GET %s: %d %v", metricsURL, st, err)
	}
	sc := bufio.NewScanner(bytes.NewReader(body))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if v, ok := strings.CutPrefix(line, name+" "); ok {
			return strconv.ParseFloat(strings.TrimSpace(v), 64)
		}
	}
	return 0, fmt.Errorf("%s: no sample of %s", metricsURL, name)
}

// putJSON sends PUT with a JSON body (the fake's /_faults).
func putJSON(ctx context.Context, u string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	st, body, err := do(ctx, http.MethodPut, u, "", "application/json", b)
	if err != nil || st/100 != 2 {
		return fmt.Errorf("PUT %s: %d %v %s", u, st, err, body)
	}
	return nil
}
