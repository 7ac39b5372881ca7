package brazesync_test

import (
	"context"
	"encoding/json"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/ctms-go/ctms/internal/braze"
)

// memESP is an in-memory Braze for the tests: profiles by external id (attributes
// merged as Braze merges them), the events, aliases and deletions received.
type memESP struct {
	mu        sync.Mutex
	profiles  map[string]map[string]any
	events    []braze.Event
	aliases   []braze.Alias
	deleted   []string
	calls     []string    // "track", "delete", "alias" in order
	callTimes []time.Time // when each of calls came
	tracked   map[string]int
	// minor names objects to reject; err fails every request while set.
	minor func(attrs []braze.Attributes, events []braze.Event) []braze.MinorError
	// rejectAlias names an alias to reject (a non-empty reason), as Braze does with a
	// minor error.
	rejectAlias func(a braze.Alias) string
	err         error
}

func newMemESP() *memESP {
	return &memESP{profiles: map[string]map[string]any{}, tracked: map[string]int{}}
}

func normal(v any) map[string]any {
	b, _ := json.Marshal(v)
	var out map[string]any
	_ = json.Unmarshal(b, &out)
	return out
}

func (f *memESP) Track(_ context.Context, attrs []braze.Attributes, events []braze.Event) ([]braze.MinorError, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, "track")
	f.callTimes = append(f.callTimes, time.Now())
	if f.err != nil {
		return nil, f.err
	}
	if len(attrs) > braze.MaxTrackObjects || len(events) > braze.MaxTrackObjects {
		return nil, errTooMany
	}
	var minor []braze.MinorError
	if f.minor != nil {
		minor = f.minor(attrs, events)
	}
	rejected := map[[2]any]bool{}
	for _, m := range minor {
		rejected[[2]any{m.InputArray, m.Index}] = true
	}
	for i, a := range attrs {
		if rejected[[2]any{"attributes", i}] {
			continue
		}
		n := normal(a)
		id := n["external_id"].(string)
		p, exists := f.profiles[id]
		if !exists {
			if n["_update_existing_only"] == true {
				continue // Braze ignores it: no such profile
			}
			p = map[string]any{"external_id": id}
			f.profiles[id] = p
		}
		delete(n, "_update_existing_only")
		maps.Copy(p, n)
		f.tracked[id]++
	}
	for i, e := range events {
		if !rejected[[2]any{"events", i}] {
			f.events = append(f.events, e)
		}
	}
	return minor, nil
}

func (f *memESP) Delete(_ context.Context, ids []string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, "delete")
	f.callTimes = append(f.callTimes, time.Now())
	if f.err != nil {
		return f.err
	}
	if len(ids) > braze.MaxDeleteIDs {
		return errTooMany
	}
	for _, id := range ids {
		delete(f.profiles, id)
		f.deleted = append(f.deleted, id)
	}
	return nil
}

func (f *memESP) NewAliases(_ context.Context, aliases []braze.Alias) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, "alias")
	f.callTimes = append(f.callTimes, time.Now())
	if f.err != nil {
		return f.err
	}
	if len(aliases) > braze.MaxAliases {
		return errTooMany
	}
	var rejected []braze.MinorError
	for i, a := range aliases {
		if f.rejectAlias != nil {
			if why := f.rejectAlias(a); why != "" {
				rejected = append(rejected, braze.MinorError{InputArray: "user_aliases", Index: i, Type: why})
				continue
			}
		}
		f.aliases = append(f.aliases, a)
		if p, ok := f.profiles[a.ExternalID]; ok {
			list, _ := p["user_aliases"].([]any)
			p["user_aliases"] = append(list, map[string]any{"alias_label": a.Label, "alias_name": a.Name})
		}
	}
	if len(rejected) > 0 {
		return &braze.MinorErrors{Endpoint: "/users/alias/new", Errors: rejected}
	}
	return nil
}

func (f *memESP) Export(_ context.Context, ids []string) ([]braze.Profile, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return nil, f.err
	}
	var out []braze.Profile
	for _, id := range ids {
		if p, ok := f.profiles[id]; ok {
			out = append(out, braze.Profile(normal(p)))
		}
	}
	return out, nil
}

type espError string

func (e espError) Error() string { return string(e) }

const errTooMany = espError("batch over Braze's limit")

// profile is a copy of a profile (nil: none).
func (f *memESP) profile(id string) map[string]any {
	f.mu.Lock()
	defer f.mu.Unlock()
	if p, ok := f.profiles[id]; ok {
		return normal(p)
	}
	return nil
}

func (f *memESP) eventNames(id string) []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for _, e := range f.events {
		if e["external_id"] == id {
			out = append(out, e["name"].(string))
		}
	}
	return out
}

func (f *memESP) callList() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.calls)
}

// firstCallAt is when the first call came (zero: none yet).
func (f *memESP) firstCallAt() time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.callTimes) == 0 {
		return time.Time{}
	}
	return f.callTimes[0]
}

func (f *memESP) setErr(err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.err = err
}
