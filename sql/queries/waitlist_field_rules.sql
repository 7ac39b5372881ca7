-- name: WaitlistFieldRulesList :many
SELECT waitlist, field, max_length, pattern, allowed_values, extra_forbidden
FROM waitlist_field_rules
ORDER BY waitlist, field;

-- name: WaitlistFieldRuleSet :exec
INSERT INTO waitlist_field_rules (waitlist, field, max_length, pattern, allowed_values, extra_forbidden)
VALUES (@waitlist, @field, @max_length, @pattern, @allowed_values, @extra_forbidden)
ON CONFLICT (waitlist, field) DO UPDATE SET
  max_length = excluded.max_length, pattern = excluded.pattern,
  allowed_values = excluded.allowed_values, extra_forbidden = excluded.extra_forbidden;

-- name: WaitlistFieldRuleDelete :execrows
DELETE FROM waitlist_field_rules WHERE waitlist = @waitlist AND field = @field;
