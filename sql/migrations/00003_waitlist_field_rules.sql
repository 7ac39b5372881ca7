-- Waitlist field rules as data (not in the Python CTMS, where they were code):
-- each row limits one member of a waitlist's `fields`. waitlist is a waitlist
-- name or '*' for every waitlist; a rule for a name overrides the '*' rule for
-- the same field. When a waitlist has a rule with extra_forbidden, fields it has
-- no rule for are refused. Servers re-read the table every few seconds.

-- +goose Up
CREATE TABLE waitlist_field_rules (
    id              serial       NOT NULL,
    waitlist        varchar(255) NOT NULL,
    field           varchar(255) NOT NULL,
    max_length      integer,
    pattern         text,
    allowed_values  text[],
    extra_forbidden boolean      NOT NULL DEFAULT false,
    CONSTRAINT waitlist_field_rules_pkey PRIMARY KEY (id),
    CONSTRAINT waitlist_field_rules_waitlist_field_key UNIQUE (waitlist, field),
    CONSTRAINT waitlist_field_rules_max_length_check CHECK (max_length IS NULL OR max_length >= 0)
);

-- The rules of the Python CTMS: geo and platform are strings of at most 100
-- characters everywhere; "relay" accepts only geo, "vpn" only geo and platform.
INSERT INTO waitlist_field_rules (waitlist, field, max_length, extra_forbidden) VALUES
    ('*', 'geo', 100, false),
    ('*', 'platform', 100, false),
    ('relay', 'geo', 100, true),
    ('vpn', 'geo', 100, true),
    ('vpn', 'platform', 100, true);

-- +goose Down
DROP TABLE waitlist_field_rules;
