package main

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"

	"github.com/ctms-go/ctms/internal/contact"
	"github.com/ctms-go/ctms/internal/store"
)

// waitlistFieldsCmd manages the waitlist field rules (table waitlist_field_rules);
// running servers pick up changes within seconds.
type waitlistFieldsCmd struct {
	List   waitlistFieldsListCmd   `cmd:"" help:"List the waitlist field rules."`
	Set    waitlistFieldsSetCmd    `cmd:"" help:"Create or replace the rule for a field of a waitlist ('*': every waitlist)."`
	Delete waitlistFieldsDeleteCmd `cmd:"" help:"Delete the rule for a field of a waitlist."`
}

type waitlistFieldsListCmd struct{}

func (c *waitlistFieldsListCmd) Run(sio stdio) error {
	return withDB(sio, func(ctx context.Context, env *cliEnv) error {
		rules, err := env.st.WaitlistFieldRules(ctx)
		if err != nil {
			return err
		}
		if len(rules) == 0 {
			fmt.Fprintln(sio.Out, "No waitlist field rules found.")
			return nil
		}
		fmt.Fprintln(sio.Out, "Waitlist field rules:")
		for _, r := range rules {
			fmt.Fprintf(sio.Out, "- %s.%s: %s\n", r.Waitlist, r.Field, describeRule(r))
		}
		return nil
	})
}

// describeRule is the one-line summary of a rule for `list`.
func describeRule(r contact.FieldRule) string {
	parts := []string{"string or null"}
	if r.MaxLength != nil {
		parts = append(parts, fmt.Sprintf("max length %d", *r.MaxLength))
	}
	if r.Pattern != nil {
		parts = append(parts, fmt.Sprintf("pattern '%s'", r.Pattern))
	}
	if len(r.AllowedValues) > 0 {
		parts = append(parts, "one of "+strings.Join(r.AllowedValues, ", "))
	}
	if r.ExtraForbidden {
		parts = append(parts, "other fields forbidden")
	}
	return strings.Join(parts, "; ")
}

type waitlistFieldsSetCmd struct {
	Waitlist    string   `arg:"" help:"Waitlist name, or '*' for every waitlist."`
	Field       string   `arg:"" help:"Field of the waitlist's fields object."`
	MaxLength   *int     `name:"max-length" help:"Maximum length in characters."`
	Pattern     string   `help:"Regular expression (RE2 syntax) the value must match."`
	Allowed     []string `help:"Allowed values (comma-separated)." sep:","`
	ForbidExtra bool     `name:"forbid-extra" help:"The waitlist accepts only the fields it has rules for."`
}

// Validate runs while parsing, so bad values are usage errors (exit 2).
func (c *waitlistFieldsSetCmd) Validate() error {
	switch {
	case c.Waitlist == "":
		return invalidValue("WAITLIST", "must not be empty")
	case c.Field == "":
		return invalidValue("FIELD", "must not be empty")
	case c.MaxLength != nil && *c.MaxLength < 0:
		return invalidValue("--max-length", "must not be negative")
	}
	if _, err := regexp.Compile(c.Pattern); err != nil {
		return invalidValue("--pattern", err.Error())
	}
	return nil
}

func (c *waitlistFieldsSetCmd) Run(sio stdio) error {
	rule := contact.FieldRule{Waitlist: c.Waitlist, Field: c.Field, MaxLength: c.MaxLength,
		AllowedValues: c.Allowed, ExtraForbidden: c.ForbidExtra}
	if c.Pattern != "" {
		rule.Pattern = regexp.MustCompile(c.Pattern) // checked by Validate
	}
	return withDB(sio, func(ctx context.Context, env *cliEnv) error {
		if err := env.st.SetWaitlistFieldRule(ctx, rule); err != nil {
			return err
		}
		fmt.Fprintf(sio.Out, "✅ Set rule for field '%s' of waitlist '%s': %s.\n", c.Field, c.Waitlist, describeRule(rule))
		return nil
	})
}

type waitlistFieldsDeleteCmd struct {
	Waitlist string `arg:"" help:"Waitlist name, or '*'."`
	Field    string `arg:"" help:"Field name."`
	Yes      bool   `short:"y" help:"Do not ask for confirmation."`
}

func (c *waitlistFieldsDeleteCmd) Run(sio stdio) error {
	return withDB(sio, func(ctx context.Context, env *cliEnv) error {
		rules, err := env.st.WaitlistFieldRules(ctx)
		if err != nil {
			return err
		}
		found := false
		for _, r := range rules {
			found = found || (r.Waitlist == c.Waitlist && r.Field == c.Field)
		}
		if !found {
			return exitWith(sio, 4, fmt.Sprintf("No rule for field '%s' of waitlist '%s'.", c.Field, c.Waitlist))
		}
		if ok, err := confirmUnless(sio, c.Yes, fmt.Sprintf("Are you sure you want to delete the rule for field '%s' of waitlist '%s'?", c.Field, c.Waitlist)); !ok {
			return err
		}
		err = env.st.DeleteWaitlistFieldRule(ctx, c.Waitlist, c.Field)
		if errors.Is(err, store.ErrNotFound) {
			return exitWith(sio, 4, fmt.Sprintf("No rule for field '%s' of waitlist '%s'.", c.Field, c.Waitlist))
		}
		if err != nil {
			return err
		}
		fmt.Fprintf(sio.Out, "✅ Deleted rule for field '%s' of waitlist '%s'.\n", c.Field, c.Waitlist)
		return nil
	})
}
