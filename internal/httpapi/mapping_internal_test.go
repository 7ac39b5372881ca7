package httpapi

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestPyISO(t *testing.T) {
	t.Parallel()
	paris := time.FixedZone("", 3600+30*60)
	at := func(ns int, loc *time.Location) time.Time { return time.Date(2021, 3, 8, 5, 4, 3, ns, loc) }
	tests := []struct {
		t         time.Time
		utcSuffix string
		want      string
	}{
		{at(0, time.UTC), "+00:00", "2021-03-08T05:04:03+00:00"},
		{at(999, time.UTC), "Z", "2021-03-08T05:04:03Z"}, // below a microsecond
		{at(1000, time.UTC), "Z", "2021-03-08T05:04:03.000001Z"},
		{at(500000000, time.UTC), "", "2021-03-08T05:04:03.500000"},
		{at(123456789, time.UTC), "+00:00", "2021-03-08T05:04:03.123456+00:00"},
		{at(120000000, paris), "Z", "2021-03-08T05:04:03.120000+01:30"},
		{time.Date(12021, 1, 1, 0, 0, 0, 0, time.UTC), "Z", "12021-01-01T00:00:00Z"},
	}
	for _, tt := range tests {
		require.Equal(t, tt.want, pyISO(tt.t, tt.utcSuffix))
	}
	require.Equal(t, "2021-03-08T04:04:03.120000+00:00", pyTimestamp(at(120000000, time.FixedZone("", 3600))))
}
