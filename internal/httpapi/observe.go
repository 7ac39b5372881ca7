package httpapi

import (
	"context"
	"log/slog"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/ctms-go/ctms/internal/obs"
)

// requestState is what the stages of one request learn and the outermost
// middleware reports after the response: the matched route and the auth
// information. It belongs to that request only (docs/migrating-from-python.md: auth info never
// leaks into another request's log line or metrics).
type requestState struct {
	route *route
	auth  AuthInfo
	log   *slog.Logger // the server's logger, for code that has only the request
}

type stateKey struct{}

// stateOf returns the request's state; outside a request (or in a bare handler
// test) a fresh, unshared one.
func stateOf(ctx context.Context) *requestState {
	if st, ok := ctx.Value(stateKey{}).(*requestState); ok {
		return st
	}
	return &requestState{}
}

// loggerOf is the logger of the server handling the request; slog.Default()
// only for a handler run outside New's handler chain (never in the service).
func loggerOf(ctx context.Context) *slog.Logger {
	if l := stateOf(ctx).log; l != nil {
		return l
	}
	return slog.Default()
}

// statusWriter remembers the status written.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// observe is the outermost middleware: it assigns the request id (taken from
// X-Request-Id when valid, else generated; echoed), then after the response records the
// metrics of matched routes and writes one request.summary log line.
func (s *server) observe(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rid := r.Header.Get("X-Request-Id")
		if !validRequestID(rid) {
			rid = uuid.NewString()
		}
		w.Header().Set("X-Request-Id", rid)
		st := &requestState{log: s.log}
		ctx := obs.WithRequestID(context.WithValue(r.Context(), stateKey{}, st), rid)
		sw := &statusWriter{ResponseWriter: w}
		next.ServeHTTP(sw, r.WithContext(ctx))
		d := time.Since(start)
		status := sw.status
		if status == 0 {
			status = http.StatusOK
		}
		if st.route != nil && s.metrics != nil {
			client := st.auth.ClientID
			if st.auth.ClientUnknown {
				client = "unknown" // never the text submitted to /token (AuthInfo)
			}
			s.metrics.ObserveRequest(r.Method, st.route.pattern, status, d, client)
		}
		s.summary(ctx, r, st, status, d)
	})
}

// maxRequestIDLength bounds a request id taken from the request.
const maxRequestIDLength = 128

// validRequestID tells whether a client's X-Request-Id may be used as is: 1 to
// 128 of [A-Za-z0-9._:-] (what UUIDs, hex and dotted trace ids are made of).
// Anything else (an e-mail address, spaces, quotes, control or non-ASCII
// characters, a long text) is neither echoed nor logged; a new id replaces it.
func validRequestID(rid string) bool {
	if rid == "" || len(rid) > maxRequestIDLength {
		return false
	}
	for i := 0; i < len(rid); i++ {
		c := rid[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '.' || c == '_' || c == ':' || c == '-') {
			return false
		}
	}
	return true
}

// maxLoggedText bounds each text of a request.summary line that the client
// chose (User-Agent, Accept-Language, path, method): a 60 KB header must not
// make a 60 KB log line.
const maxLoggedText = 256

// truncatedMark ends a text cut at maxLoggedText bytes.
const truncatedMark = "...[truncated]"

// redactedMark replaces a word of a logged text that holds an '@'.
const redactedMark = "[redacted]"

// loggable is a text the client chose, as the log may hold it: its first
// maxLoggedText bytes (then truncatedMark), printable ASCII only (any other
// character, or invalid UTF-8, is '?'), and each run of characters around an
// '@' (an e-mail address, e.g. a crawler's "+mailto:" contact) as redactedMark.
func loggable(s string) string {
	if plainText(s) {
		return s // the common case, without a copy
	}
	truncated := len(s) > maxLoggedText
	if truncated {
		s = s[:maxLoggedText]
	}
	var b strings.Builder
	b.Grow(len(s) + len(truncatedMark))
	for _, c := range s {
		if c < ' ' || c > '~' {
			c = '?'
		}
		b.WriteRune(c)
	}
	out := b.String()
	if strings.IndexByte(out, '@') >= 0 {
		out = addressLike.ReplaceAllString(out, redactedMark)
	}
	if truncated {
		out += truncatedMark
	}
	return out
}

// plainText tells whether loggable would keep s as it is.
func plainText(s string) bool {
	if len(s) > maxLoggedText {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < ' ' || s[i] > '~' || s[i] == '@' {
			return false
		}
	}
	return true
}

// addressLike is an '@' with the characters around it up to a separator.
var addressLike = regexp.MustCompile(`[^\s()<>\[\],;:"']*@[^\s()<>\[\],;:"']*`)

// summary writes the request.summary line (the fields of python-dockerflow's,
// plus the authentication fields). The query string is never logged, a path
// holding an email address is logged as its route template, and every text the
// client chose goes through loggable; the rid is validRequestID's.
func (s *server) summary(ctx context.Context, r *http.Request, st *requestState, status int, d time.Duration) {
	var lang any
	if l := r.Header.Get("Accept-Language"); l != "" {
		lang = loggable(l)
	}
	errno := 0
	if status >= 500 {
		errno = status
	}
	attrs := []slog.Attr{
		slog.String(obs.LoggerKey, "request.summary"),
		slog.String("agent", loggable(r.Header.Get("User-Agent"))),
		slog.String("path", loggable(safePath(r.URL.Path, st.route))),
		slog.String("method", loggable(r.Method)),
		slog.Int("code", status),
		slog.Any("lang", lang),
		slog.Int64("t", d.Milliseconds()),
		slog.String("rid", obs.RequestID(ctx)),
		slog.Int("errno", errno),
	}
	a := st.auth
	var uid any
	if a.ClientID != "" {
		attrs = append(attrs, slog.String("client_id", a.ClientID))
		uid = a.ClientID
	}
	if a.ClientAllowed != nil {
		attrs = append(attrs, slog.Bool("client_allowed", *a.ClientAllowed))
	}
	if a.AuthFail != "" {
		attrs = append(attrs, slog.String("auth_fail", a.AuthFail))
	}
	if a.TokenCredsFrom != "" {
		attrs = append(attrs, slog.String("token_creds_from", a.TokenCredsFrom))
	}
	if a.TokenFail != "" {
		attrs = append(attrs, slog.String("token_fail", string(a.TokenFail)))
	}
	attrs = append(attrs, slog.Any("uid", uid))
	s.log.LogAttrs(ctx, slog.LevelInfo, "", attrs...)
}

// safePath keeps email addresses (DELETE /ctms/{primary_email}, or one sent
// where an id belongs) out of the logs.
func safePath(path string, rt *route) string {
	unescaped, err := url.PathUnescape(path)
	if err != nil {
		unescaped = path
	}
	if !strings.Contains(unescaped, "@") {
		return path
	}
	if rt != nil {
		return rt.pattern
	}
	return "/<redacted>"
}
