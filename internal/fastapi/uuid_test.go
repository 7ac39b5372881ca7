package fastapi

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// pydantic-core validates a UUID string with the Rust uuid crate's
// Uuid::parse_str and reports its Display text as uuid_parsing's ctx.error
// ("Input should be a valid UUID, {error}"). The expected texts are the
// crate's rules (InvalidUuid::into_err): the first character outside
// [0-9a-fA-F-], 1-based, counting a stripped "{" or "urn:uuid:"; then, with no
// hyphen and no prefix, the length ("expected length 32 for simple format");
// then the number of groups; then the first group of the wrong length.
func TestParseUUIDAsTheUUIDCrate(t *testing.T) {
	const id = "332de237-cab7-4461-bcc3-48e68f42bd5c"
	for _, ok := range []string{id, "332DE237-CAB7-4461-BCC3-48E68F42BD5C", "332de237cab74461bcc348e68f42bd5c",
		"{" + id + "}", "urn:uuid:" + id} {
		got, why := ParseUUID(ok)
		require.Empty(t, why, ok)
		require.Equal(t, id, got.String(), ok)
	}
	for _, c := range []struct{ in, why string }{
		{" " + id + " ", "invalid character: found ` ` at 1"}, // spaces are characters, not trimmed
		{id + " ", "invalid character: found ` ` at 37"},
		{"g" + id[1:], "invalid character: found `g` at 1"},
		{"1", "invalid length: expected length 32 for simple format, found 1"},
		{"", "invalid length: expected length 32 for simple format, found 0"},
		{"332de237cab74461bcc348e68f42bd5", "invalid length: expected length 32 for simple format, found 31"},
		{"332de237-cab7-4461-bcc348e68f42bd5c", "invalid group count: expected 5, found 4"},
		{"332de23-7cab7-4461-bcc3-48e68f42bd5c", "invalid group length in group 0: expected 8, found 7"},
		{"332de237-cab7-4461-bcc3-48e68f42bd5", "invalid group length in group 4: expected 12, found 11"},
		{"{" + id[:35] + "}", "invalid group length in group 4: expected 12, found 13"}, // measured on the whole input
		{"urn:uuid:" + id[:8] + "x" + id[9:], "invalid character: found `x` at 18"},
		{"URN:UUID:" + id, "invalid character: found `U` at 1"}, // the prefix is lower-case only
		{"[" + id + "]", "invalid character: found `[` at 1"},   // google/uuid takes any wrapper
		{"é" + id[2:], "invalid character: found `é` at 1"},
		{"an-invalid-id", "invalid character: found `n` at 2"},
	} {
		_, why := ParseUUID(c.in)
		require.Equal(t, c.why, why, "%q", c.in)
	}
}

func TestParseUUIDDoesNotAllocate(t *testing.T) {
	for _, s := range []string{"332de237-cab7-4461-bcc3-48e68f42bd5c", "332de237cab74461bcc348e68f42bd5c", "{332de237-cab7-4461-bcc3-48e68f42bd5c}"} {
		require.Zero(t, testing.AllocsPerRun(100, func() { _, _ = ParseUUID(s) }), s)
	}
	require.Zero(t, testing.AllocsPerRun(100, func() { _ = IsDate("2021-01-28") }))
}
