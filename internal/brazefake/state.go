package brazefake

import (
	"fmt"
	"maps"
	"net/http"
	"slices"
	"time"
)

// standardFields are Braze user profile fields: top-level in an export, not custom attributes.
var standardFields = map[string]bool{
	"email": true, "first_name": true, "last_name": true, "country": true, "language": true,
	"email_subscribe": true, "push_subscribe": true, "phone": true, "dob": true, "gender": true,
	"home_city": true, "time_zone": true,
}

// exportFields are the documented values of fields_to_export.
var exportFields = map[string]bool{
	"apps": true, "attributed_campaign": true, "attributed_source": true, "attributed_adgroup": true,
	"attributed_ad": true, "braze_id": true, "campaigns_received": true, "canvases_received": true,
	"cards_clicked": true, "country": true, "created_at": true, "custom_attributes": true,
	"custom_events": true, "devices": true, "dob": true, "email": true, "email_subscribe": true,
	"external_id": true, "first_name": true, "gender": true, "home_city": true, "language": true,
	"last_coordinates": true, "last_name": true, "phone": true, "purchases": true,
	"push_subscribe": true, "push_tokens": true, "random_bucket": true, "time_zone": true,
	"total_revenue": true, "uninstalled_at": true, "user_aliases": true,
}

// Profile is one user profile of the workspace.
type Profile struct {
	ExternalID         string            `json:"external_id"`
	Standard           map[string]any    `json:"standard"`          // email, first_name, email_subscribe, ...
	Custom             map[string]any    `json:"custom_attributes"` // user_attributes_v1, ...
	SubscriptionGroups map[string]string `json:"subscription_groups"`
	Aliases            []Alias           `json:"aliases"`
	Events             []Event           `json:"events"`
	CreatedAt          time.Time         `json:"created_at"`
	UpdatedAt          time.Time         `json:"updated_at"` // last accepted write
}

// Alias is a user alias.
type Alias struct {
	Label string `json:"alias_label"`
	Name  string `json:"alias_name"`
}

// Event is one custom event received.
type Event struct {
	Name       string         `json:"name"`
	Time       string         `json:"time"` // as sent
	Properties map[string]any `json:"properties,omitempty"`
	ReceivedAt time.Time      `json:"received_at"`
}

// Write is one accepted change, with the time the server accepted it.
type Write struct {
	At         time.Time `json:"at"`
	Kind       string    `json:"kind"` // "attributes", "event", "alias" or "delete"
	ExternalID string    `json:"external_id"`
}

// Counters count the requests by path and status ("dropped" for a dropped answer), the faults
// injected, and the attribute objects skipped by `_update_existing_only`.
type Counters struct {
	Requests          map[string]map[string]int `json:"requests"`
	Faults            map[Fault]int             `json:"faults"`
	SkippedUpdateOnly int                       `json:"skipped_update_only"`
}

// State is the whole workspace, as GET /_state answers it.
type State struct {
	Profiles map[string]Profile   `json:"profiles"`
	Deleted  map[string]time.Time `json:"deleted"`
	Writes   []Write              `json:"writes"`
	Counters Counters             `json:"counters"`
}

// Profile answers a copy of the profile of externalID.
func (s *Server) Profile(externalID string) (Profile, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p, ok := s.profiles[externalID]
	if !ok {
		return Profile{}, false
	}
	return p.clone(), true
}

// Profiles answers a copy of every profile, by external id.
func (s *Server) Profiles() map[string]Profile {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string]Profile, len(s.profiles))
	for id, p := range s.profiles {
		out[id] = p.clone()
	}
	return out
}

// Deleted answers the external ids deleted, with the time of their last deletion.
func (s *Server) Deleted() map[string]time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	return maps.Clone(s.deleted)
}

// Writes answers every accepted change, in order of acceptance.
func (s *Server) Writes() []Write {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.writes)
}

// Counters answers a copy of the counters.
func (s *Server) Counters() Counters {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.counters.clone()
}

// State answers a copy of the whole workspace.
func (s *Server) State() State {
	return State{Profiles: s.Profiles(), Deleted: s.Deleted(), Writes: s.Writes(), Counters: s.Counters()}
}

// Put stores a profile as is (test set-up, e.g. drift that CTMS did not cause).
func (s *Server) Put(p Profile) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := p.clone()
	for _, a := range c.Aliases {
		s.aliases[a] = c.ExternalID
	}
	s.profiles[p.ExternalID] = &c
}

func (c Counters) clone() Counters {
	out := Counters{Requests: map[string]map[string]int{}, Faults: maps.Clone(c.Faults), SkippedUpdateOnly: c.SkippedUpdateOnly}
	for k, v := range c.Requests {
		out.Requests[k] = maps.Clone(v)
	}
	return out
}

func (p *Profile) clone() Profile {
	c := *p
	c.Standard = deepCopy(p.Standard).(map[string]any)
	c.Custom = deepCopy(p.Custom).(map[string]any)
	c.SubscriptionGroups = maps.Clone(p.SubscriptionGroups)
	if c.SubscriptionGroups == nil {
		c.SubscriptionGroups = map[string]string{}
	}
	c.Aliases = slices.Clone(p.Aliases)
	c.Events = make([]Event, len(p.Events))
	for i, e := range p.Events {
		if e.Properties != nil {
			e.Properties = deepCopy(e.Properties).(map[string]any)
		}
		c.Events[i] = e
	}
	return c
}

func deepCopy(v any) any {
	switch t := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(t))
		for k, x := range t {
			out[k] = deepCopy(x)
		}
		return out
	case []any:
		out := make([]any, len(t))
		for i, x := range t {
			out[i] = deepCopy(x)
		}
		return out
	default:
		return t
	}
}

func (s *Server) profileFor(id string, now time.Time) *Profile {
	p, ok := s.profiles[id]
	if !ok {
		p = &Profile{ExternalID: id, Standard: map[string]any{}, Custom: map[string]any{},
			SubscriptionGroups: map[string]string{}, CreatedAt: now}
		s.profiles[id] = p
	}
	return p
}

// track applies POST /users/track.
func (s *Server) track(body map[string]any) (int, any) {
	if msg := onlyKeys(body, "attributes", "events", "purchases", "partner"); msg != "" {
		return http.StatusBadRequest, message(msg)
	}
	attrs, msg := objectArray(body, "attributes", MaxTrackObjects)
	if msg == "" {
		_, msg = objectArray(body, "purchases", MaxTrackObjects)
	}
	var events []any
	if msg == "" {
		events, msg = objectArray(body, "events", MaxTrackObjects)
	}
	if msg != "" {
		return http.StatusBadRequest, message(msg)
	}
	if purchases, _ := body["purchases"].([]any); len(purchases) > 0 {
		return http.StatusBadRequest, message("'purchases' are not supported by this test server")
	}
	if len(attrs) == 0 && len(events) == 0 {
		return http.StatusBadRequest, message("Valid data must be provided in the 'attributes', 'events', or 'purchases' fields.")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	var minors []map[string]any
	minor := func(array string, i int, typ string) {
		minors = append(minors, map[string]any{"type": typ, "input_array": array, "index": i})
	}
	processed := 0
	for i, v := range attrs {
		if typ := s.applyAttributes(v, now); typ != "" {
			minor("attributes", i, typ)
			continue
		}
		processed++
	}
	eventsProcessed := 0
	for i, v := range events {
		if typ := s.applyEvent(v, now); typ != "" {
			minor("events", i, typ)
			continue
		}
		eventsProcessed++
	}
	resp := map[string]any{"message": "success"}
	if len(attrs) > 0 {
		resp["attributes_processed"] = processed
	}
	if len(events) > 0 {
		resp["events_processed"] = eventsProcessed
	}
	if len(minors) > 0 {
		resp["errors"] = minors
	}
	return http.StatusOK, resp
}

// externalID reads the required external_id of an object; typ is a minor error.
func externalID(obj map[string]any) (id, typ string) {
	v, ok := obj["external_id"]
	if !ok {
		if obj["user_alias"] != nil || obj["braze_id"] != nil {
			return "", "'user_alias' and 'braze_id' are not supported by this test server: use 'external_id'"
		}
		return "", "'external_id' or 'braze_id' or 'user_alias' is required"
	}
	id, ok = v.(string)
	if !ok || id == "" {
		return "", "'external_id' must be a non-empty string"
	}
	return id, ""
}

// applyAttributes validates one attributes object and, when valid, applies it; it answers a
// minor error type, or "".
func (s *Server) applyAttributes(v any, now time.Time) string {
	obj, ok := v.(map[string]any)
	if !ok {
		return "an attributes object must be a JSON object"
	}
	id, typ := externalID(obj)
	if typ != "" {
		return typ
	}
	updateOnly := false
	if u, ok := obj["_update_existing_only"]; ok {
		if updateOnly, ok = u.(bool); !ok {
			return "'_update_existing_only' must be a boolean"
		}
	}
	standard := map[string]any{}
	custom := map[string]any{}
	var groups map[string]string
	for k, val := range obj {
		switch k {
		case "external_id", "_update_existing_only":
		case "subscription_groups":
			var typ string
			if groups, typ = subscriptionGroups(val); typ != "" {
				return typ
			}
		case "email_subscribe", "push_subscribe":
			if s, ok := val.(string); val != nil && (!ok || (s != "opted_in" && s != "subscribed" && s != "unsubscribed")) {
				return fmt.Sprintf("Invalid value for '%s': expected \"opted_in\", \"subscribed\" or \"unsubscribed\"", k)
			}
			standard[k] = val
		default:
			if standardFields[k] {
				if _, ok := val.(string); val != nil && !ok {
					return fmt.Sprintf("'%s' must be a string or null", k)
				}
				standard[k] = val
				continue
			}
			norm, err := normaliseTimes(val)
			if err != nil {
				return fmt.Sprintf("Invalid value for custom attribute '%s': %v", k, err)
			}
			custom[k] = norm
		}
	}
	p, exists := s.profiles[id]
	if !exists && updateOnly {
		s.counters.SkippedUpdateOnly++
		return ""
	}
	if !exists {
		p = s.profileFor(id, now)
	}
	set := func(m map[string]any, k string, val any) {
		if val == nil {
			delete(m, k)
		} else {
			m[k] = val
		}
	}
	for k, val := range standard {
		set(p.Standard, k, val)
	}
	for k, val := range custom {
		set(p.Custom, k, val)
	}
	maps.Copy(p.SubscriptionGroups, groups)
	p.UpdatedAt = now
	s.writes = append(s.writes, Write{At: now, Kind: "attributes", ExternalID: id})
	return ""
}

func subscriptionGroups(v any) (map[string]string, string) {
	arr, ok := v.([]any)
	if !ok {
		return nil, "'subscription_groups' must be an array"
	}
	out := map[string]string{}
	for _, e := range arr {
		o, _ := e.(map[string]any)
		id, _ := o["subscription_group_id"].(string)
		state, _ := o["subscription_state"].(string)
		if id == "" {
			return nil, "'subscription_group_id' is required in each 'subscription_groups' object"
		}
		if state != "subscribed" && state != "unsubscribed" {
			return nil, "'subscription_state' must be \"subscribed\" or \"unsubscribed\""
		}
		out[id] = state
	}
	return out, ""
}

// timeLayouts are the ISO-8601 forms accepted in $time values and event times.
var timeLayouts = []string{time.RFC3339Nano, "2006-01-02T15:04:05", "2006-01-02T15:04:05.999999999", "2006-01-02"}

func parseTime(s string) (time.Time, bool) {
	for _, l := range timeLayouts {
		if t, err := time.Parse(l, s); err == nil {
			return t, true
		}
	}
	return time.Time{}, false
}

// TimeFormat is how a {"$time": ...} value is stored and exported.
const TimeFormat = "2006-01-02T15:04:05.000Z"

// normaliseTimes replaces every {"$time": ISO-8601} object in v by its TimeFormat string.
func normaliseTimes(v any) (any, error) {
	switch t := v.(type) {
	case map[string]any:
		if tv, ok := t["$time"]; ok {
			s, _ := tv.(string)
			parsed, ok := parseTime(s)
			if len(t) != 1 || !ok {
				return nil, fmt.Errorf("'$time' must be an ISO-8601 string")
			}
			return parsed.UTC().Format(TimeFormat), nil
		}
		out := make(map[string]any, len(t))
		for k, x := range t {
			n, err := normaliseTimes(x)
			if err != nil {
				return nil, err
			}
			out[k] = n
		}
		return out, nil
	case []any:
		out := make([]any, len(t))
		for i, x := range t {
			n, err := normaliseTimes(x)
			if err != nil {
				return nil, err
			}
			out[i] = n
		}
		return out, nil
	default:
		return v, nil
	}
}

// applyEvent validates one event object and, when valid, records it.
func (s *Server) applyEvent(v any, now time.Time) string {
	obj, ok := v.(map[string]any)
	if !ok {
		return "an event object must be a JSON object"
	}
	id, typ := externalID(obj)
	if typ != "" {
		return typ
	}
	name, _ := obj["name"].(string)
	if name == "" {
		return "'name' is required"
	}
	at, _ := obj["time"].(string)
	if _, ok := parseTime(at); !ok {
		return "'time' is required and must be an ISO-8601 string"
	}
	var props map[string]any
	if pv, ok := obj["properties"]; ok && pv != nil {
		if props, ok = pv.(map[string]any); !ok {
			return "'properties' must be an object"
		}
	}
	p := s.profileFor(id, now)
	p.Events = append(p.Events, Event{Name: name, Time: at, Properties: props, ReceivedAt: now})
	p.UpdatedAt = now
	s.writes = append(s.writes, Write{At: now, Kind: "event", ExternalID: id})
	return ""
}

// delete applies POST /users/delete.
func (s *Server) delete(body map[string]any) (int, any) {
	if msg := onlyKeys(body, "external_ids"); msg != "" {
		return http.StatusBadRequest, message(msg)
	}
	ids, msg := stringArray(body, "external_ids", MaxDeleteIDs)
	if msg != "" {
		return http.StatusBadRequest, message(msg)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	deleted := 0
	for _, id := range ids {
		p, ok := s.profiles[id]
		if !ok {
			continue
		}
		for _, a := range p.Aliases {
			delete(s.aliases, a)
		}
		delete(s.profiles, id)
		s.deleted[id] = now
		s.writes = append(s.writes, Write{At: now, Kind: "delete", ExternalID: id})
		deleted++
	}
	return http.StatusOK, map[string]any{"message": "success", "deleted": deleted}
}

// aliasNew applies POST /users/alias/new.
func (s *Server) aliasNew(body map[string]any) (int, any) {
	if msg := onlyKeys(body, "user_aliases"); msg != "" {
		return http.StatusBadRequest, message(msg)
	}
	arr, msg := objectArray(body, "user_aliases", MaxAliases)
	if msg == "" && len(arr) == 0 {
		msg = "'user_aliases' must list at least one alias"
	}
	if msg != "" {
		return http.StatusBadRequest, message(msg)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	var minors []map[string]any
	processed := 0
	for i, v := range arr {
		if typ := s.applyAlias(v, now); typ != "" {
			minors = append(minors, map[string]any{"type": typ, "input_array": "user_aliases", "index": i})
			continue
		}
		processed++
	}
	resp := map[string]any{"message": "success", "aliases_processed": processed}
	if len(minors) > 0 {
		resp["errors"] = minors
	}
	return http.StatusOK, resp
}

func (s *Server) applyAlias(v any, now time.Time) string {
	obj, ok := v.(map[string]any)
	if !ok {
		return "a user alias must be a JSON object"
	}
	id, typ := externalID(obj)
	if typ != "" {
		return typ
	}
	label, _ := obj["alias_label"].(string)
	name, _ := obj["alias_name"].(string)
	if label == "" || name == "" {
		return "'alias_label' and 'alias_name' are required"
	}
	p, ok := s.profiles[id]
	if !ok {
		return "'external_id' does not match a user"
	}
	a := Alias{Label: label, Name: name}
	if owner, taken := s.aliases[a]; taken {
		if owner != id {
			return "the alias is already used by another user"
		}
		return ""
	}
	s.aliases[a] = id
	p.Aliases = append(p.Aliases, a)
	p.UpdatedAt = now
	s.writes = append(s.writes, Write{At: now, Kind: "alias", ExternalID: id})
	return ""
}

// export answers POST /users/export/ids.
func (s *Server) export(body map[string]any) (int, any) {
	if msg := onlyKeys(body, "external_ids", "fields_to_export"); msg != "" {
		return http.StatusBadRequest, message(msg)
	}
	ids, msg := stringArray(body, "external_ids", MaxExportIDs)
	if msg != "" {
		return http.StatusBadRequest, message(msg)
	}
	fields, msg := stringArray(body, "fields_to_export", len(exportFields))
	if msg != "" {
		return http.StatusBadRequest, message("'fields_to_export' is required: " + msg)
	}
	want := map[string]bool{}
	for _, f := range fields {
		if !exportFields[f] {
			return http.StatusBadRequest, message(fmt.Sprintf("'%s' is not a valid field of 'fields_to_export'", f))
		}
		want[f] = true
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	users := []map[string]any{}
	invalid := []string{}
	for _, id := range ids {
		p, ok := s.profiles[id]
		if !ok {
			invalid = append(invalid, id)
			continue
		}
		users = append(users, p.export(want))
	}
	resp := map[string]any{"message": "success", "users": users}
	if len(invalid) > 0 {
		resp["invalid_user_ids"] = invalid
	}
	return http.StatusOK, resp
}

// export renders the profile as Braze's export does, with the wanted fields it has.
func (p *Profile) export(want map[string]bool) map[string]any {
	u := map[string]any{}
	if want["external_id"] {
		u["external_id"] = p.ExternalID
	}
	if want["braze_id"] {
		u["braze_id"] = "fake-" + p.ExternalID
	}
	if want["created_at"] {
		u["created_at"] = p.CreatedAt.UTC().Format(TimeFormat)
	}
	for k, v := range p.Standard {
		if want[k] {
			u[k] = deepCopy(v)
		}
	}
	if want["custom_attributes"] && len(p.Custom) > 0 {
		u["custom_attributes"] = deepCopy(p.Custom)
	}
	if want["user_aliases"] && len(p.Aliases) > 0 {
		u["user_aliases"] = slices.Clone(p.Aliases)
	}
	if want["custom_events"] && len(p.Events) > 0 {
		type agg struct{ first, last time.Time }
		byName := map[string]*agg{}
		counts := map[string]int{}
		var names []string
		for _, e := range p.Events {
			t, _ := parseTime(e.Time)
			a, ok := byName[e.Name]
			if !ok {
				a = &agg{t, t}
				byName[e.Name] = a
				names = append(names, e.Name)
			}
			if t.Before(a.first) {
				a.first = t
			}
			if t.After(a.last) {
				a.last = t
			}
			counts[e.Name]++
		}
		var out []map[string]any
		for _, n := range names {
			out = append(out, map[string]any{"name": n, "first": byName[n].first.UTC().Format(TimeFormat),
				"last": byName[n].last.UTC().Format(TimeFormat), "count": counts[n]})
		}
		u["custom_events"] = out
	}
	return u
}
