package store

import (
	"context"
	"fmt"
	"regexp"

	"github.com/ctms-go/ctms/gen/db"
	"github.com/ctms-go/ctms/internal/contact"
)

// WaitlistFieldRules reads the waitlist field rules.
func (s *Store) WaitlistFieldRules(ctx context.Context) (contact.FieldRules, error) {
	rows, err := s.q.WaitlistFieldRulesList(ctx, s.db)
	if err != nil {
		return nil, mapError("waitlist field rules", err)
	}
	rules := make(contact.FieldRules, 0, len(rows))
	for _, r := range rows {
		rule := contact.FieldRule{Waitlist: r.Waitlist, Field: r.Field, AllowedValues: r.AllowedValues, ExtraForbidden: r.ExtraForbidden}
		if r.MaxLength != nil {
			rule.MaxLength = new(int(*r.MaxLength))
		}
		if r.Pattern != nil {
			re, err := regexp.Compile(*r.Pattern)
			if err != nil {
				return nil, fmt.Errorf("waitlist field rule %s/%s: pattern: %w", r.Waitlist, r.Field, err)
			}
			rule.Pattern = re
		}
		rules = append(rules, rule)
	}
	return rules, nil
}

// SetWaitlistFieldRule creates or replaces the rule for (waitlist, field).
func (s *Store) SetWaitlistFieldRule(ctx context.Context, r contact.FieldRule) error {
	p := db.WaitlistFieldRuleSetParams{Waitlist: r.Waitlist, Field: r.Field, AllowedValues: r.AllowedValues, ExtraForbidden: r.ExtraForbidden}
	if r.MaxLength != nil {
		p.MaxLength = new(int32(*r.MaxLength)) // #nosec G115 -- the CLI takes non-negative lengths; the column is int32
	}
	if r.Pattern != nil {
		p.Pattern = new(r.Pattern.String())
	}
	return mapError("waitlist field rule set", s.q.WaitlistFieldRuleSet(ctx, s.db, p))
}

// DeleteWaitlistFieldRule removes a rule; ErrNotFound when there was none.
func (s *Store) DeleteWaitlistFieldRule(ctx context.Context, waitlist, field string) error {
	n, err := s.q.WaitlistFieldRuleDelete(ctx, s.db, db.WaitlistFieldRuleDeleteParams{Waitlist: waitlist, Field: field})
	if err != nil {
		return mapError("waitlist field rule delete", err)
	}
	if n == 0 {
		return fmt.Errorf("waitlist field rule delete: %w", ErrNotFound)
	}
	return nil
}
