package obs

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync"
	"time"
)

// LoggerKey names the logger of a record (MozLog's "Type", e.g.
// "request.summary"); it is not written as a field. Records without it are "ctms".
const LoggerKey = "logger"

// LevelCritical is Python's CRITICAL (MozLog severity 2).
const LevelCritical = slog.LevelError + 4

type ridKey struct{}

// WithRequestID puts the request id into ctx so every log line of the request carries it.
func WithRequestID(ctx context.Context, rid string) context.Context {
	return context.WithValue(ctx, ridKey{}, rid)
}

// RequestID is the request id in ctx, or "".
func RequestID(ctx context.Context) string {
	rid, _ := ctx.Value(ridKey{}).(string)
	return rid
}

// NewLogger returns the service logger: MozLog JSON (mozlog=true) or readable text.
func NewLogger(w io.Writer, mozlog bool, level slog.Leveler) *slog.Logger {
	host, _ := os.Hostname()
	h := &handler{out: &lockedWriter{w: w}, level: level, mozlog: mozlog, hostname: host, pid: os.Getpid()}
	return slog.New(h)
}

type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) write(b []byte) {
	l.mu.Lock()
	defer l.mu.Unlock()
	_, _ = l.w.Write(b)
}

// handler writes the records in python-dockerflow's JsonLogFormatter layout
// (Timestamp, Type, Logger, Hostname, EnvVersion, Severity, Pid, Fields), or as text.
type handler struct {
	out      *lockedWriter
	level    slog.Leveler
	mozlog   bool
	hostname string
	pid      int
	attrs    []slog.Attr
	prefix   string // group prefix for later attributes
}

func (h *handler) Enabled(_ context.Context, l slog.Level) bool { return l >= h.level.Level() }

func (h *handler) WithAttrs(as []slog.Attr) slog.Handler {
	n := *h
	n.attrs = append(append([]slog.Attr(nil), h.attrs...), prefixed(h.prefix, as)...)
	return &n
}

func (h *handler) WithGroup(name string) slog.Handler {
	if name == "" {
		return h
	}
	n := *h
	n.prefix = h.prefix + name + "."
	return &n
}

func prefixed(prefix string, as []slog.Attr) []slog.Attr {
	if prefix == "" {
		return as
	}
	out := make([]slog.Attr, len(as))
	for i, a := range as {
		out[i] = slog.Attr{Key: prefix + a.Key, Value: a.Value}
	}
	return out
}

// severity maps slog levels to syslog severities, as MozLog wants.
func severity(l slog.Level) int {
	switch {
	case l >= LevelCritical:
		return 2
	case l >= slog.LevelError:
		return 3
	case l >= slog.LevelWarn:
		return 4
	case l >= slog.LevelInfo:
		return 6
	}
	return 7
}

func levelName(l slog.Level) string {
	switch {
	case l >= LevelCritical:
		return "CRITICAL"
	case l >= slog.LevelError:
		return "ERROR"
	case l >= slog.LevelWarn:
		return "WARNING"
	case l >= slog.LevelInfo:
		return "INFO"
	}
	return "DEBUG"
}

type field struct {
	key string
	val any
}

func (h *handler) Handle(ctx context.Context, r slog.Record) error {
	logger := "ctms"
	fields := make([]field, 0, len(h.attrs)+r.NumAttrs()+2)
	add := func(a slog.Attr) {
		if a.Key == LoggerKey {
			logger = a.Value.String()
			return
		}
		fields = append(fields, field{a.Key, a.Value.Resolve().Any()})
	}
	for _, a := range h.attrs {
		add(a)
	}
	r.Attrs(func(a slog.Attr) bool {
		for _, p := range prefixed(h.prefix, []slog.Attr{a}) {
			add(p)
		}
		return true
	})
	if rid := RequestID(ctx); rid != "" && !hasField(fields, "rid") {
		fields = append(fields, field{"rid", rid})
	}
	if r.Message != "" {
		fields = append(fields, field{"msg", r.Message})
	}
	ts := r.Time
	if ts.IsZero() {
		ts = time.Now()
	}
	var buf bytes.Buffer
	if h.mozlog {
		fmt.Fprintf(&buf, `{"Timestamp":%d,"Type":%s,"Logger":"ctms","Hostname":%s,"EnvVersion":"2.0","Severity":%d,"Pid":%d,"Fields":{`,
			ts.UnixNano(), jsonString(logger), jsonString(h.hostname), severity(r.Level), h.pid)
		for i, f := range fields {
			if i > 0 {
				buf.WriteByte(',')
			}
			buf.WriteString(jsonString(f.key))
			buf.WriteByte(':')
			buf.Write(jsonValue(f.val))
		}
		buf.WriteString("}}\n")
	} else {
		rid := RequestID(ctx)
		fmt.Fprintf(&buf, "%s %-8s [%s] %-15s %s", ts.UTC().Format(time.DateTime), levelName(r.Level), rid, logger, r.Message)
		for _, f := range fields {
			if f.key == "msg" || f.key == "rid" {
				continue
			}
			fmt.Fprintf(&buf, " %s=%s", f.key, jsonValue(f.val))
		}
		buf.WriteByte('\n')
	}
	h.out.write(buf.Bytes())
	return nil
}

func hasField(fs []field, key string) bool {
	for _, f := range fs {
		if f.key == key {
			return true
		}
	}
	return false
}

func jsonString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// jsonValue encodes a field value; what JSON cannot encode is written as its text.
func jsonValue(v any) []byte {
	switch x := v.(type) {
	case error:
		v = x.Error()
	case time.Duration:
		v = x.String()
	case fmt.Stringer:
		v = x.String()
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return []byte(jsonString(fmt.Sprint(v)))
	}
	return bytes.TrimRight(buf.Bytes(), "\n")
}
