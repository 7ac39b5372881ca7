package emailaddr

import (
	"errors"
	"strings"
	"testing"
)

func TestNormalizeValid(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ name, in, want string }{
		{"plain", "client1@example.com", "client1@example.com"},
		{"domain lower-cased, local part kept", "Client1@EXAMPLE.COM", "Client1@example.com"},
		{"surrounding whitespace", "  padded@example.com \t", "padded@example.com"},
		{"display name", "John Doe <john@example.com>", "john@example.com"},
		{"quoted display name", `"John Doe" <john@Example.com>`, "john@example.com"},
		{"case-insensitive mailbox", "Postmaster@Example.com", "postmaster@example.com"},
		{"case-insensitive mailbox info", "Info@Example.com", "info@example.com"},
		{"atext and subdomains", "o'brien+tag@sub.example.co.uk", "o'brien+tag@sub.example.co.uk"},
		{"one-letter top-level domain", "a@b.c", "a@b.c"},
		{"unicode local part", "ü@example.com", "ü@example.com"},
		{"internationalised domain", "user@Bücher.CH", "user@bücher.ch"},
		{"punycode domain shown in unicode", "user@xn--bcher-kva.ch", "user@bücher.ch"},
		{"local part of 64 characters", strings.Repeat("x", 64) + "@example.com", strings.Repeat("x", 64) + "@example.com"},
	} {
		got, err := Normalize(tc.in)
		if err != nil || got != tc.want {
			t.Errorf("%s: Normalize(%q) = %q, %v; want %q", tc.name, tc.in, got, err, tc.want)
		}
	}
}

func TestNormalizeInvalid(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ in, reason string }{
		{"invalid_email", "An email address must have an @-sign."},
		{"", "An email address must have an @-sign."},
		{"@example.com", "There must be something before the @-sign."},
		{"a@", "There must be something after the @-sign."},
		{"a@b", "The part after the @-sign is not valid. It should have a period."},
		{"a@localhost", "The part after the @-sign is not valid. It should have a period."},
		{"a b@example.com", "The email address contains invalid characters before the @-sign: SPACE."},
		{"a,b;c@example.com", "The email address contains invalid characters before the @-sign: ',', ';'."},
		{".a@example.com", "An email address cannot start with a period."},
		{"a.@example.com", "An email address cannot have a period immediately before the @-sign."},
		{"a..b@example.com", "An email address cannot have two periods in a row."},
		{"a@-example.com", "An email address cannot have a hyphen immediately after the @-sign."},
		{"a@example-.com", "An email address cannot have a period and a hyphen next to each other."},
		{"a@.example.com", "An email address cannot have a period immediately after the @-sign."},
		{"a@example.com.", "An email address cannot end with a period."},
		{"a@example..com", "An email address cannot have two periods in a row."},
		{"a@example.123", "The part after the @-sign is not valid. It is not within a valid top-level domain."},
		{"a@foo.test", "The part after the @-sign is a special-use or reserved name that cannot be used with email."},
		{"a@printer.local", "The part after the @-sign is a special-use or reserved name that cannot be used with email."},
		{"a@hidden.onion", "The part after the @-sign is a special-use or reserved name that cannot be used with email."},
		{"a@ab--cd.com", "An email address cannot have two letters followed by two dashes immediately after the @-sign or after a period, except Punycode."},
		{"a@exa_mple.com", "The part after the @-sign contains invalid characters: '_'."},
		{"a@b@example.com", "The part after the @-sign contains invalid characters: '@'."},
		{`"quoted"@example.com`, "Quoting the part before the @-sign is not allowed here."},
		{`"a b"@example.com`, "Quoting the part before the @-sign is not allowed here."},
		{"a@[192.0.2.1]", "A bracketed IP address after the @-sign is not allowed here."},
		{"a@[IPv6:2001:db8::1]", "A bracketed IP address after the @-sign is not allowed here."},
		{"a@[foo]", "The part after the @-sign in brackets is not an IPv4 address and has no address literal tag."},
		{"a\u200b@example.com", "The email address contains unsafe characters: ZERO WIDTH SPACE."},
		{strings.Repeat("x", 65) + "@example.com", "The email address is too long before the @-sign (1 character too many)."},
		{strings.Repeat("x", 66) + "@example.com", "The email address is too long before the @-sign (2 characters too many)."},
		{"a@" + strings.Repeat("x", 64) + ".com", "After the @-sign, periods cannot be separated by so many characters (1 character too many)."},
		{strings.Repeat("x", 60) + "@" + strings.Repeat(strings.Repeat("y", 60)+".", 3) + "example.com", "The email address is too long (1 character too many)."},
		{"Jane <jane@example.com> x", "There can't be anything after the email address."},
		{"Jane.Doe <jane@example.com>", "The display name contains invalid characters when not quoted: '.'."},
		{"Jane <jane@example.com", "An open angle bracket at the start of the email address has to be followed by a close angle bracket at the end."},
		{strings.Repeat("a", 2049), "Length must not exceed 2048 characters"},
	} {
		got, err := Normalize(tc.in)
		if err == nil || err.Error() != tc.reason {
			t.Errorf("Normalize(%q) = %q, %v; want the error %q", tc.in, got, err, tc.reason)
		}
		if _, ok := errors.AsType[Error](err); !ok {
			t.Errorf("Normalize(%q): error %T, want an Error", tc.in, err)
		}
	}
}

func TestNormalizeInvalidPunycode(t *testing.T) {
	t.Parallel()
	_, err := Normalize("a@xn--example.com")
	if err == nil || !strings.HasPrefix(err.Error(), "The part after the @-sign is not valid IDNA (") {
		t.Errorf("Normalize(a@xn--example.com): %v", err)
	}
}
