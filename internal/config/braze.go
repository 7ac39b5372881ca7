package config

import (
	"errors"
	"net/url"
	"time"
)

// Braze is the configuration of `ctms sync` beyond Config (which it loads too:
// database, logging). Ours, not in the Python CTMS.
type Braze struct {
	URL           string        // CTMS_BRAZE_URL: the instance's REST endpoint (required)
	APIKey        string        // CTMS_BRAZE_API_KEY or CTMS_BRAZE_API_KEY_FILE (required)
	AliasDelay    time.Duration // CTMS_BRAZE_ALIAS_DELAY: aliases no sooner than this after a profile's creation
	MetricsHost   string        // CTMS_SYNC_METRICS_HOST: where /metrics and the heartbeats listen
	MetricsPort   int           // CTMS_SYNC_METRICS_PORT
	PollInterval  time.Duration // CTMS_SYNC_POLL_INTERVAL: an idle syncer's (and a standby's) polling period
	MaxRetries    int           // CTMS_SYNC_MAX_RETRIES: failed pushes before a contact is parked
	RetryMaxDelay time.Duration // CTMS_SYNC_RETRY_MAX_DELAY: the longest back-off between two attempts
	RepairDelay   time.Duration // CTMS_SYNC_REPAIR_DELAY: a new leader pushes the previous one's latest request again this much later
}

// Defaults of the Braze settings.
const (
	DefaultBrazeAliasDelay    = 5 * time.Minute // Braze's documented delay between endpoints
	DefaultSyncMetricsPort    = 8001
	DefaultSyncPollInterval   = 500 * time.Millisecond
	DefaultSyncMaxRetries     = 20
	DefaultSyncRetryMaxDelay  = 15 * time.Minute
	DefaultSyncRepairDelay    = time.Minute
	MinSyncRepairDelay        = 10 * time.Second
	defaultSyncMetricsAddress = "0.0.0.0"
)

// LoadBraze reads the Braze settings through lookup (LookupEnv in production) and
// names every variable that is missing or invalid.
func LoadBraze(lookup func(string) (string, bool)) (*Braze, error) {
	r := reader{lookup: lookup}
	b := &Braze{
		URL:           r.str("CTMS_BRAZE_URL", ""),
		APIKey:        r.strOrFile("CTMS_BRAZE_API_KEY", ""),
		AliasDelay:    r.duration("CTMS_BRAZE_ALIAS_DELAY", DefaultBrazeAliasDelay),
		MetricsHost:   r.str("CTMS_SYNC_METRICS_HOST", defaultSyncMetricsAddress),
		MetricsPort:   r.integer("CTMS_SYNC_METRICS_PORT", DefaultSyncMetricsPort),
		PollInterval:  r.duration("CTMS_SYNC_POLL_INTERVAL", DefaultSyncPollInterval),
		MaxRetries:    r.integer("CTMS_SYNC_MAX_RETRIES", DefaultSyncMaxRetries),
		RetryMaxDelay: r.duration("CTMS_SYNC_RETRY_MAX_DELAY", DefaultSyncRetryMaxDelay),
		RepairDelay:   r.duration("CTMS_SYNC_REPAIR_DELAY", DefaultSyncRepairDelay),
	}
	if b.URL == "" {
		r.fail("CTMS_BRAZE_URL", "is required (the REST endpoint of the Braze instance, https://rest.<instance>.braze.com)")
	} else if u, err := url.Parse(b.URL); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		r.fail("CTMS_BRAZE_URL", "must be an http(s):// URL")
	}
	if b.APIKey == "" {
		r.fail("CTMS_BRAZE_API_KEY", "is required (or CTMS_BRAZE_API_KEY_FILE)")
	}
	if b.AliasDelay < 0 {
		r.fail("CTMS_BRAZE_ALIAS_DELAY", "must not be negative")
	}
	if b.MetricsPort < 0 || b.MetricsPort > 65535 {
		r.fail("CTMS_SYNC_METRICS_PORT", "must be a port number")
	}
	if b.PollInterval <= 0 {
		r.fail("CTMS_SYNC_POLL_INTERVAL", "must be positive")
	}
	if b.MaxRetries < 1 {
		r.fail("CTMS_SYNC_MAX_RETRIES", "must be at least 1")
	}
	if b.RetryMaxDelay < time.Second {
		r.fail("CTMS_SYNC_RETRY_MAX_DELAY", "must be at least 1s")
	}
	if b.RepairDelay < MinSyncRepairDelay {
		r.fail("CTMS_SYNC_REPAIR_DELAY", "must be at least 10s (a new leader's first push comes 4 s after it leads: an earlier repair would repair nothing)")
	}
	if len(r.errs) > 0 {
		return nil, errors.Join(r.errs...)
	}
	return b, nil
}
