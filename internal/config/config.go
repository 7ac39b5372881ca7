// Package config reads the CTMS settings from the environment, with the names,
// defaults and formats of the Python CTMS, and stops with a message naming the
// variable when one is missing or invalid.
package config

import (
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// Config is the whole service configuration.
type Config struct {
	DBURL           string        // CTMS_DB_URL (required)
	DBReadURL       string        // CTMS_DB_READ_URL: a standby for the read endpoints (optional)
	DBListenURL     string        // CTMS_DB_LISTEN_URL: the access feed's session (default CTMS_DB_URL)
	DBPoolSize      int           // CTMS_DB_POOL_SIZE
	DBMaxOverflow   int           // CTMS_DB_MAX_OVERFLOW
	DBPoolTimeout   time.Duration // CTMS_DB_POOL_TIMEOUT_IN_SECONDS
	DBPoolRecycle   time.Duration // CTMS_DB_POOL_RECYCLE_IN_SECONDS
	SecretKey       string        // CTMS_SECRET_KEY (required)
	TokenExpiration time.Duration // CTMS_TOKEN_EXPIRATION
	ServerPrefix    string        // CTMS_SERVER_PREFIX
	UseMozlog       bool          // CTMS_USE_MOZLOG
	LogSQL          bool          // CTMS_LOG_SQLALCHEMY
	LoggingLevel    slog.Level    // CTMS_LOGGING_LEVEL
	SentryDebug     bool          // CTMS_SENTRY_DEBUG
	SentryDSN       string        // SENTRY_DSN
	Host            string        // HOST
	Port            int           // PORT
	AppDir          string        // APP_DIR
	// EnforcePermissions makes the API check each client's roles (CTMS_ENFORCE_PERMISSIONS,
	// default true); false is for deployments moving over from the Python CTMS.
	EnforcePermissions bool
	// DeletionsRetention is how long deletion tombstones are kept (CTMS_DELETIONS_RETENTION,
	// default 90 days; must be positive). Ours, not in the Python CTMS.
	DeletionsRetention time.Duration
	// DeletionHashKey keys the tombstones' address hashes (CTMS_DELETION_HASH_KEY or
	// CTMS_DELETION_HASH_KEY_FILE): `ctms migrate` installs it in the database, which
	// computes the hashes (docs/deployment.md#deletion-hash-key).
	DeletionHashKey string
	// FeedMaxWriteWait (CTMS_FEED_MAX_WRITE_WAIT, default 5 minutes; 0: no bound) is
	// how long /updates and /deletions hold their default end back for one in-flight
	// contact write (sql/queries/platform.sql: FeedWriteMarkers). Ours.
	FeedMaxWriteWait time.Duration

	// HTTP server limits (durations: see ParseDuration).
	ReadHeaderTimeout time.Duration // CTMS_HTTP_READ_HEADER_TIMEOUT
	ReadTimeout       time.Duration // CTMS_HTTP_READ_TIMEOUT
	WriteTimeout      time.Duration // CTMS_HTTP_WRITE_TIMEOUT
	IdleTimeout       time.Duration // CTMS_HTTP_IDLE_TIMEOUT
	MaxHeaderBytes    int           // CTMS_HTTP_MAX_HEADER_BYTES
	MaxBodyBytes      int64         // CTMS_HTTP_MAX_BODY_BYTES (larger bodies: 413)
	RequestDBTimeout  time.Duration // CTMS_DB_REQUEST_TIMEOUT: database work of one request
	ShutdownGrace     time.Duration // CTMS_SHUTDOWN_GRACE: time in-flight requests get on SIGTERM
	ShutdownDrain     time.Duration // CTMS_SHUTDOWN_DRAIN: serving on after SIGTERM, /__lbheartbeat__ 503

	// TrustedProxies (CTMS_TRUSTED_PROXIES): peers whose X-Forwarded-For names
	// the source address of a POST /token (its throttle); empty: the peer is the source.
	TrustedProxies []netip.Prefix
	// TokenFailuresPerAddress (CTMS_TOKEN_FAILURES_PER_ADDRESS): failed POST
	// /token attempts one source address may make per minute (at least 1).
	TokenFailuresPerAddress int
	// SecretKeyPrevious (CTMS_SECRET_KEY_PREVIOUS) verifies tokens, never signs
	// them: set to the old key while rotating CTMS_SECRET_KEY (docs/deployment.md).
	SecretKeyPrevious string
}

// DefaultFeedMaxWriteWait is the default of CTMS_FEED_MAX_WRITE_WAIT.
const DefaultFeedMaxWriteWait = 5 * time.Minute

// DefaultDeletionsRetention is the default of CTMS_DELETIONS_RETENTION.
const DefaultDeletionsRetention = 90 * 24 * time.Hour

// MinDeletionHashKeyLength is the shortest CTMS_DELETION_HASH_KEY `ctms migrate`
// accepts: an HMAC-SHA256 key should carry at least as many bytes as the hash.
const MinDeletionHashKeyLength = 32

// ValidateForMigrating adds the checks of `ctms migrate`, which installs the deletion
// hash key: without one, the tombstones' hashes could not be keyed.
func (c *Config) ValidateForMigrating() error {
	if c.DeletionHashKey == "" {
		return errors.New("CTMS_DELETION_HASH_KEY (or CTMS_DELETION_HASH_KEY_FILE) is required: " +
			"it keys the address hashes of deletion tombstones (docs/deployment.md#deletion-hash-key)")
	}
	if len(c.DeletionHashKey) < MinDeletionHashKeyLength {
		return fmt.Errorf("CTMS_DELETION_HASH_KEY must be at least %d bytes long (got %d)", MinDeletionHashKeyLength, len(c.DeletionHashKey))
	}
	return nil
}

// MinSecretKeyLength is the shortest CTMS_SECRET_KEY the server accepts: an
// HS256 key should carry at least as many bytes as the hash.
const MinSecretKeyLength = 32

// ValidateForServing adds the checks that only matter to the server (the CLI
// loads the same settings but never signs a token).
func (c *Config) ValidateForServing() error {
	if len(c.SecretKey) < MinSecretKeyLength {
		return fmt.Errorf("CTMS_SECRET_KEY must be at least %d bytes long (got %d)", MinSecretKeyLength, len(c.SecretKey))
	}
	if c.SecretKeyPrevious != "" && len(c.SecretKeyPrevious) < MinSecretKeyLength {
		return fmt.Errorf("CTMS_SECRET_KEY_PREVIOUS must be at least %d bytes long (got %d)", MinSecretKeyLength, len(c.SecretKeyPrevious))
	}
	return nil
}

// MaxConns is the pool's upper bound: steady size plus overflow, as SQLAlchemy counts it.
func (c *Config) MaxConns() int { return c.DBPoolSize + c.DBMaxOverflow }

// Addr is the listen address.
func (c *Config) Addr() string { return fmt.Sprintf("%s:%d", c.Host, c.Port) }

// Load reads the configuration from the process environment.
func Load() (*Config, error) { return LoadFrom(LookupEnv) }

// LookupEnv looks name up in the process environment as the Python settings do: the exact
// name first, else any spelling of it in another case (ctms_db_url, Ctms_Db_Url).
func LookupEnv(name string) (string, bool) { return EnvironLookup(os.Environ())(name) }

// EnvironLookup is LookupEnv over environ (KEY=value entries, as os.Environ returns them).
func EnvironLookup(environ []string) func(string) (string, bool) {
	return func(name string) (string, bool) {
		var folded string
		found := false
		for _, kv := range environ {
			k, v, ok := strings.Cut(kv, "=")
			if !ok {
				continue
			}
			if k == name {
				return v, true
			}
			if !found && strings.EqualFold(k, name) {
				folded, found = v, true
			}
		}
		return folded, found
	}
}

// LoadFrom reads the configuration through lookup (LookupEnv in production).
func LoadFrom(lookup func(string) (string, bool)) (*Config, error) {
	r := reader{lookup: lookup}
	c := &Config{
		DBURL:           r.strOrFile("CTMS_DB_URL", ""),
		DBReadURL:       r.strOrFile("CTMS_DB_READ_URL", ""),
		DBListenURL:     r.strOrFile("CTMS_DB_LISTEN_URL", ""),
		DBPoolSize:      r.integer("CTMS_DB_POOL_SIZE", 5),
		DBMaxOverflow:   r.integer("CTMS_DB_MAX_OVERFLOW", 10),
		DBPoolTimeout:   time.Duration(r.integer("CTMS_DB_POOL_TIMEOUT_IN_SECONDS", 30)) * time.Second,
		DBPoolRecycle:   time.Duration(r.integer("CTMS_DB_POOL_RECYCLE_IN_SECONDS", 900)) * time.Second,
		SecretKey:       r.strOrFile("CTMS_SECRET_KEY", ""),
		TokenExpiration: r.duration("CTMS_TOKEN_EXPIRATION", time.Hour),
		ServerPrefix:    r.str("CTMS_SERVER_PREFIX", "http://localhost:8000"),
		UseMozlog:       r.boolean("CTMS_USE_MOZLOG", true),
		LogSQL:          r.boolean("CTMS_LOG_SQLALCHEMY", false),
		LoggingLevel:    r.level("CTMS_LOGGING_LEVEL", slog.LevelInfo),
		SentryDebug:     r.boolean("CTMS_SENTRY_DEBUG", false),
		SentryDSN:       r.str("SENTRY_DSN", ""),
		Host:            r.str("HOST", "0.0.0.0"),
		Port:            r.integer("PORT", 8000),
		AppDir:          r.str("APP_DIR", "/app"),

		EnforcePermissions: r.boolean("CTMS_ENFORCE_PERMISSIONS", true),
		DeletionsRetention: r.duration("CTMS_DELETIONS_RETENTION", DefaultDeletionsRetention),
		DeletionHashKey:    r.strOrFile("CTMS_DELETION_HASH_KEY", ""),
		FeedMaxWriteWait:   r.duration("CTMS_FEED_MAX_WRITE_WAIT", DefaultFeedMaxWriteWait),

		ReadHeaderTimeout: r.duration("CTMS_HTTP_READ_HEADER_TIMEOUT", 10*time.Second),
		ReadTimeout:       r.duration("CTMS_HTTP_READ_TIMEOUT", 30*time.Second),
		WriteTimeout:      r.duration("CTMS_HTTP_WRITE_TIMEOUT", 60*time.Second),
		IdleTimeout:       r.duration("CTMS_HTTP_IDLE_TIMEOUT", 120*time.Second),
		MaxHeaderBytes:    r.integer("CTMS_HTTP_MAX_HEADER_BYTES", 64<<10),
		MaxBodyBytes:      int64(r.integer("CTMS_HTTP_MAX_BODY_BYTES", 1<<20)),
		RequestDBTimeout:  r.duration("CTMS_DB_REQUEST_TIMEOUT", 10*time.Second),
		ShutdownGrace:     r.duration("CTMS_SHUTDOWN_GRACE", 20*time.Second),
		ShutdownDrain:     r.duration("CTMS_SHUTDOWN_DRAIN", 0),

		SecretKeyPrevious:       r.strOrFile("CTMS_SECRET_KEY_PREVIOUS", ""),
		TrustedProxies:          r.prefixes("CTMS_TRUSTED_PROXIES"),
		TokenFailuresPerAddress: r.integer("CTMS_TOKEN_FAILURES_PER_ADDRESS", DefaultTokenFailuresPerAddress),
	}
	if c.DBURL == "" {
		r.fail("CTMS_DB_URL", "is required")
	} else if !dbURLPattern.MatchString(c.DBURL) {
		r.fail("CTMS_DB_URL", "must be a postgresql:// URL")
	}
	if c.DBReadURL != "" && !dbURLPattern.MatchString(c.DBReadURL) {
		r.fail("CTMS_DB_READ_URL", "must be a postgresql:// URL")
	}
	if c.DBListenURL != "" && !dbURLPattern.MatchString(c.DBListenURL) {
		r.fail("CTMS_DB_LISTEN_URL", "must be a postgresql:// URL")
	}
	if c.SecretKey == "" {
		r.fail("CTMS_SECRET_KEY", "is required")
	}
	if c.DBPoolSize < 1 {
		r.fail("CTMS_DB_POOL_SIZE", "must be at least 1")
	}
	if c.DBMaxOverflow < 0 {
		r.fail("CTMS_DB_MAX_OVERFLOW", "must not be negative")
	}
	if c.TokenExpiration <= 0 {
		r.fail("CTMS_TOKEN_EXPIRATION", "must be positive")
	}
	for _, d := range []struct {
		name string
		d    time.Duration
	}{
		{"CTMS_HTTP_READ_HEADER_TIMEOUT", c.ReadHeaderTimeout}, {"CTMS_HTTP_READ_TIMEOUT", c.ReadTimeout},
		{"CTMS_HTTP_WRITE_TIMEOUT", c.WriteTimeout}, {"CTMS_HTTP_IDLE_TIMEOUT", c.IdleTimeout},
		{"CTMS_DB_REQUEST_TIMEOUT", c.RequestDBTimeout}, {"CTMS_SHUTDOWN_GRACE", c.ShutdownGrace},
	} {
		if d.d <= 0 {
			r.fail(d.name, "must be positive")
		}
	}
	if c.ShutdownDrain < 0 {
		r.fail("CTMS_SHUTDOWN_DRAIN", "must not be negative")
	}
	if c.DeletionsRetention <= 0 {
		r.fail("CTMS_DELETIONS_RETENTION", "must be positive (tombstones are never kept forever)")
	}
	if c.FeedMaxWriteWait < 0 {
		r.fail("CTMS_FEED_MAX_WRITE_WAIT", "must not be negative")
	}
	if c.MaxHeaderBytes < 1024 {
		r.fail("CTMS_HTTP_MAX_HEADER_BYTES", "must be at least 1024")
	}
	if c.MaxBodyBytes < 1024 {
		r.fail("CTMS_HTTP_MAX_BODY_BYTES", "must be at least 1024")
	}
	if c.TokenFailuresPerAddress < 1 {
		r.fail("CTMS_TOKEN_FAILURES_PER_ADDRESS", "must be at least 1")
	}
	if c.Port < 0 || c.Port > 65535 {
		r.fail("PORT", "must be a port number")
	}
	if len(r.errs) > 0 {
		return nil, errors.Join(r.errs...)
	}
	c.DBURL = normaliseDBURL(c.DBURL)
	c.DBReadURL = normaliseDBURL(c.DBReadURL)
	if c.DBListenURL == "" {
		c.DBListenURL = c.DBURL
	}
	c.DBListenURL = normaliseDBURL(c.DBListenURL)
	return c, nil
}

// DefaultTokenFailuresPerAddress is generous: a busy NAT (an office, a mobile
// carrier) puts many honest clients behind one address.
const DefaultTokenFailuresPerAddress = 100

var dbURLPattern = regexp.MustCompile(`^postgres(ql)?(\+[a-z0-9_]+)?://`)

// normaliseDBURL drops a SQLAlchemy driver suffix (postgresql+psycopg2://) that pgx does not know.
func normaliseDBURL(u string) string {
	if i := strings.Index(u, "://"); i > 0 {
		if j := strings.IndexByte(u[:i], '+'); j > 0 {
			return u[:j] + u[i:]
		}
	}
	return u
}

type reader struct {
	lookup func(string) (string, bool)
	errs   []error
}

func (r *reader) fail(name, why string) {
	r.errs = append(r.errs, fmt.Errorf("%s %s", name, why))
}

func (r *reader) str(name, def string) string {
	if v, ok := r.lookup(name); ok {
		return v
	}
	return def
}

// strOrFile reads name, or name_FILE's file (ValueOrFile).
func (r *reader) strOrFile(name, def string) string {
	v, set, err := ValueOrFile(r.lookup, name)
	switch {
	case err != nil:
		r.errs = append(r.errs, err)
	case set:
		return v
	}
	return def
}

// ValueOrFile looks name up, or reads the file that name_FILE names (the Docker and
// Kubernetes secrets convention) and returns its contents without the trailing line
// break; set tells whether either was set. Setting both is an error, as is a file that
// cannot be read. The errors name the variables, never the value.
func ValueOrFile(lookup func(string) (string, bool), name string) (value string, set bool, err error) {
	v, set := lookup(name)
	path, fileSet := lookup(name + "_FILE")
	switch {
	case set && fileSet:
		return "", false, fmt.Errorf("%s and %s_FILE are both set: set only one", name, name)
	case fileSet:
		b, err := os.ReadFile(path) // #nosec G304 -- the operator names the file
		if err != nil {
			return "", false, fmt.Errorf("%s_FILE cannot be read: %w", name, err)
		}
		return strings.TrimRight(string(b), "\r\n"), true, nil
	}
	return v, set, nil
}

func (r *reader) integer(name string, def int) int {
	v, ok := r.lookup(name)
	if !ok {
		return def
	}
	n, err := strconv.Atoi(strings.TrimSpace(v))
	if err != nil {
		r.fail(name, fmt.Sprintf("must be an integer, got %q", v))
		return def
	}
	return n
}

// prefixes reads a list of CIDRs (a bare address is a /32 or /128) separated by
// commas or spaces.
func (r *reader) prefixes(name string) []netip.Prefix {
	v, ok := r.lookup(name)
	if !ok {
		return nil
	}
	var out []netip.Prefix
	for _, f := range strings.FieldsFunc(v, func(c rune) bool { return c == ',' || c == ' ' || c == '\t' || c == '\n' }) {
		p, err := netip.ParsePrefix(f)
		if err != nil {
			a, aerr := netip.ParseAddr(f)
			if aerr != nil {
				r.fail(name, fmt.Sprintf("must be a list of CIDRs (10.0.0.0/8, fd00::/8) or addresses, got %q", f))
				continue
			}
			p = netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen())
		}
		if p.Addr().Is4In6() {
			p = netip.PrefixFrom(p.Addr().Unmap(), max(p.Bits()-96, 0))
		}
		out = append(out, p.Masked())
	}
	return out
}

func (r *reader) boolean(name string, def bool) bool {
	v, ok := r.lookup(name)
	if !ok {
		return def
	}
	b, err := ParseBool(v)
	if err != nil {
		r.fail(name, fmt.Sprintf("must be a boolean, got %q", v))
		return def
	}
	return b
}

func (r *reader) duration(name string, def time.Duration) time.Duration {
	v, ok := r.lookup(name)
	if !ok {
		return def
	}
	d, err := ParseDuration(v)
	if err != nil {
		r.fail(name, err.Error())
		return def
	}
	return d
}

func (r *reader) level(name string, def slog.Level) slog.Level {
	v, ok := r.lookup(name)
	if !ok {
		return def
	}
	switch v {
	case "CRITICAL":
		return slog.LevelError + 4
	case "ERROR":
		return slog.LevelError
	case "WARNING":
		return slog.LevelWarn
	case "INFO":
		return slog.LevelInfo
	case "DEBUG":
		return slog.LevelDebug
	}
	r.fail(name, fmt.Sprintf("must be one of CRITICAL, ERROR, WARNING, INFO, DEBUG, got %q", v))
	return def
}

// ParseBool accepts the spellings pydantic accepts: 1/0, true/false, t/f, yes/no, y/n, on/off.
func ParseBool(v string) (bool, error) {
	switch strings.ToLower(strings.TrimSpace(v)) {
	case "1", "true", "t", "yes", "y", "on":
		return true, nil
	case "0", "false", "f", "no", "n", "off":
		return false, nil
	}
	return false, fmt.Errorf("invalid boolean %q", v)
}

var (
	isoDuration = regexp.MustCompile(`^P(?:(\d+(?:\.\d+)?)D)?(?:T(?:(\d+(?:\.\d+)?)H)?(?:(\d+(?:\.\d+)?)M)?(?:(\d+(?:\.\d+)?)S)?)?$`)
	clockDur    = regexp.MustCompile(`^(?:(\d+) days?, )?(\d+):(\d{1,2}):(\d{1,2}(?:\.\d+)?)$`)
)

// ParseDuration accepts a number of seconds (the Python CTMS's docs promise it, see
// docs/migrating-from-python.md), a Go duration (10s, 1h30m), and the forms the Python
// settings parse: ISO-8601 (PT1H), HH:MM:SS and "D day[s], HH:MM:SS".
func ParseDuration(v string) (time.Duration, error) {
	s := strings.TrimSpace(v)
	if f, err := strconv.ParseFloat(s, 64); err == nil {
		return time.Duration(f * float64(time.Second)), nil
	}
	if d, err := time.ParseDuration(s); err == nil {
		return d, nil
	}
	if m := isoDuration.FindStringSubmatch(s); m != nil && s != "P" && !strings.HasSuffix(s, "T") {
		return sumParts([]string{m[1], m[2], m[3], m[4]}, []time.Duration{24 * time.Hour, time.Hour, time.Minute, time.Second}), nil
	}
	if m := clockDur.FindStringSubmatch(s); m != nil {
		return sumParts(m[1:], []time.Duration{24 * time.Hour, time.Hour, time.Minute, time.Second}), nil
	}
	return 0, fmt.Errorf("invalid duration %q: use seconds (30), a Go duration (30s, 1h30m), ISO-8601 (PT30S) or HH:MM:SS", v)
}

func sumParts(parts []string, units []time.Duration) time.Duration {
	var d time.Duration
	for i, p := range parts {
		if p == "" {
			continue
		}
		f, _ := strconv.ParseFloat(p, 64)
		d += time.Duration(f * float64(units[i]))
	}
	return d
}
