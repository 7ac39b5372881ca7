package testdb

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestFixtures(t *testing.T) {
	pool := Pool(t)
	id := InsertClient(t, pool, true, "not-a-hash")
	require.Regexp(t, `^id_[0-9a-f]{12}$`, id)
	require.Equal(t, 1, Count(t, pool, `SELECT count(*) FROM api_client WHERE client_id = $1 AND enabled AND email = $1 || '@example.com'`, id))
	Grant(t, pool, id, "fixture-role")
	Grant(t, pool, id, "admin") // seeded by the migrations: not created again
	require.Equal(t, 2, Count(t, pool, `SELECT count(*) FROM api_client_roles WHERE api_client_id = $1`, id))
	require.Equal(t, 1, Count(t, pool, `SELECT count(*) FROM roles WHERE name = 'admin'`))
	Exec(t, pool, `DELETE FROM api_client WHERE client_id = $1`, id)
	require.Zero(t, Count(t, pool, `SELECT count(*) FROM api_client WHERE client_id = $1`, id))
}
