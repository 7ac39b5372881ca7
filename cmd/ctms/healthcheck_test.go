package main

import (
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestHealthcheck(t *testing.T) {
	var status atomic.Int64
	status.Store(http.StatusOK)
	var last atomic.Value // the last request: "METHOD /path"
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		last.Store(r.Method + " " + r.URL.Path)
		w.WriteHeader(int(status.Load()))
		_, _ = w.Write([]byte(`{"status": "ok"}`))
	}))
	defer srv.Close()

	t.Run("Healthy", func(t *testing.T) {
		res := runCLI(t, "", "healthcheck", "--url", srv.URL+"/__lbheartbeat__")
		require.Equal(t, 0, res.code, res.errOut)
		require.Equal(t, "healthy: GET "+srv.URL+"/__lbheartbeat__ answered 200 OK\n", res.out)
		require.Equal(t, "GET /__lbheartbeat__", last.Load())
	})

	t.Run("DefaultURLFromHostAndPort", func(t *testing.T) {
		u, err := url.Parse(srv.URL)
		require.NoError(t, err)
		_, port, err := net.SplitHostPort(u.Host)
		require.NoError(t, err)
		t.Setenv("HOST", "0.0.0.0")
		t.Setenv("PORT", port)
		res := runCLI(t, "", "healthcheck")
		require.Equal(t, 0, res.code, res.errOut)
		require.Equal(t, "healthy: GET http://127.0.0.1:"+port+"/__lbheartbeat__ answered 200 OK\n", res.out)
	})

	t.Run("NotOK", func(t *testing.T) {
		status.Store(http.StatusServiceUnavailable)
		defer status.Store(http.StatusOK)
		res := runCLI(t, "", "healthcheck", "--url", srv.URL+"/__lbheartbeat__")
		require.Equal(t, 1, res.code)
		require.Empty(t, res.out)
		require.Equal(t, "unhealthy: GET "+srv.URL+"/__lbheartbeat__ answered 503 Service Unavailable\n", res.errOut)
	})

	t.Run("Unreachable", func(t *testing.T) {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		require.NoError(t, err)
		addr := l.Addr().String()
		require.NoError(t, l.Close()) // nothing listens there now
		res := runCLI(t, "", "healthcheck", "--url", "http://"+addr+"/__lbheartbeat__", "--timeout", "2s")
		require.Equal(t, 1, res.code)
		require.Contains(t, res.errOut, "unhealthy: ")
	})

	t.Run("BadURL", func(t *testing.T) {
		for _, bad := range []string{"http://bad host/", "localhost:8000", "ftp://example.com/"} {
			res := runCLI(t, "", "healthcheck", "--url", bad)
			require.Equal(t, 2, res.code, bad)
			require.Contains(t, res.errOut, "Error: Invalid value for '--url': ", bad)
		}
	})
}

func TestDefaultHealthcheckURL(t *testing.T) {
	for name, tc := range map[string]struct {
		env  map[string]string
		want string
	}{
		"Defaults":       {nil, "http://127.0.0.1:8000/__lbheartbeat__"},
		"Port":           {map[string]string{"PORT": "9000"}, "http://127.0.0.1:9000/__lbheartbeat__"},
		"LowerCase":      {map[string]string{"port": "9001"}, "http://127.0.0.1:9001/__lbheartbeat__"},
		"Host":           {map[string]string{"HOST": "10.1.2.3", "PORT": "80"}, "http://10.1.2.3:80/__lbheartbeat__"},
		"IPv6Wildcard":   {map[string]string{"HOST": "::"}, "http://[::1]:8000/__lbheartbeat__"},
		"BadPortIgnored": {map[string]string{"PORT": "http"}, "http://127.0.0.1:8000/__lbheartbeat__"},
	} {
		t.Run(name, func(t *testing.T) {
			lookup := func(k string) (string, bool) { v, ok := tc.env[k]; return v, ok }
			require.Equal(t, tc.want, defaultHealthcheckURL(lookup))
		})
	}
}
