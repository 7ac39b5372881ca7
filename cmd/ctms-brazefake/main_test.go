package main

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ctms-go/ctms/internal/brazefake"
)

// TestRun serves on a free port with the flags a drill uses, applies a track, reads the state
// and the counters back over HTTP, and stops cleanly when its context ends.
func TestRun(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"-listen", "127.0.0.1:0", "-api-key", "k", "-seed", "1",
			"-drop-rate", "0", "-server-error-rate", "0", "-timeout-rate", "0", "-rate-limit-rate", "0",
			"-hang", "1s", "-track-limit", "2/1m", "-delete-alias-limit", "5/1m", "-export-limit", "5/1m"}, pw)
	}()
	line, err := bufio.NewReader(pr).ReadString('\n')
	require.NoError(t, err)
	url, ok := strings.CutPrefix(strings.TrimSpace(line), "listening on ")
	require.True(t, ok, line)

	post := func(body string) *http.Response {
		req, _ := http.NewRequest(http.MethodPost, url+brazefake.PathTrack, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer k")
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		resp.Body.Close()
		return resp
	}
	require.Equal(t, http.StatusOK, post(`{"attributes":[{"external_id":"a","email_subscribe":"opted_in"}]}`).StatusCode)
	require.Equal(t, http.StatusOK, post(`{"attributes":[{"external_id":"b"}]}`).StatusCode)
	resp := post(`{"attributes":[{"external_id":"c"}]}`)
	require.Equal(t, http.StatusTooManyRequests, resp.StatusCode, "-track-limit 2/1m")
	require.Equal(t, "2", resp.Header.Get("X-RateLimit-Limit"))

	get := func(path string, v any) {
		resp, err := http.Get(url + path)
		require.NoError(t, err)
		defer resp.Body.Close()
		require.NoError(t, json.NewDecoder(resp.Body).Decode(v))
	}
	var st brazefake.State
	get("/_state", &st)
	require.Equal(t, "opted_in", st.Profiles["a"].Standard["email_subscribe"])
	require.Len(t, st.Profiles, 2)
	var c brazefake.Counters
	get("/_counters", &c)
	require.Equal(t, map[string]int{"200": 2, "429": 1}, c.Requests[brazefake.PathTrack])

	cancel()
	select {
	case err := <-done:
		require.NoError(t, err)
	case <-time.After(10 * time.Second):
		t.Fatal("run did not return after its context ended")
	}
}

func TestRunRejectsBadLimits(t *testing.T) {
	t.Parallel()
	err := run(t.Context(), []string{"-track-limit", "fast"}, io.Discard)
	require.ErrorContains(t, err, "N/duration")
}
