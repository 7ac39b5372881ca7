package httpapi_test

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"sync"
	"testing"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/ctms-go/ctms/internal/testdb"
)

// raceRounds is how many times each race below is run; with -count=20 (see
// docs/reliability.md) every interleaving the scheduler offers gets tried.
const raceRounds = 15

// newRaceAPI is newAPI on a database and pool of its own, so that the racers do
// not starve the other tests of the package's shared pool. The pool is as
// small as that one (4): racers queue for connections and start their
// transactions as others commit, which is when they collide (with 16
// connections the PUT race below rarely shows).
func newRaceAPI(t *testing.T) *apiTest {
	t.Helper()
	cfg, err := pgxpool.ParseConfig(testdb.NewDatabase(t))
	require.NoError(t, err)
	cfg.MaxConns = 4
	cfg.ConnConfig.RuntimeParams["timezone"] = "UTC"
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
	require.NoError(t, err)
	t.Cleanup(pool.Close)
	return newAPIOn(t, pool)
}

// TestConcurrentPutsCreateOneContact: PUTs racing to create the same new
// contact (same email_id and primary email) all answer 201, and exactly one of
// the bodies is stored, whole (its email row, amo row and newsletter together).
func TestConcurrentPutsCreateOneContact(t *testing.T) {
	t.Parallel()
	a := newRaceAPI(t)
	const writers = 12
	for round := range raceRounds {
		id, email := uuid.NewString(), newEmail()
		statuses := make([]int, writers)
		bodies := make([]string, writers)
		var wg sync.WaitGroup
		for i := range writers {
			wg.Go(func() {
				tag := fmt.Sprintf("put-%d", i)
				r, err := a.send("PUT", "/ctms/"+id, obj{
					"email":       obj{"email_id": id, "primary_email": email, "first_name": tag},
					"amo":         obj{"display_name": tag},
					"newsletters": arr{obj{"name": tag}},
				})
				if err == nil {
					statuses[i], bodies[i] = r.Status, string(r.Body)
				}
			})
		}
		wg.Wait()
		for i := range writers {
			require.Equal(t, http.StatusCreated, statuses[i], "round %d, PUT %d: %s", round, i, bodies[i])
		}
		c := a.get(id)
		tag := c["email"].(map[string]any)["first_name"]
		require.Equal(t, tag, c["amo"].(map[string]any)["display_name"], "round %d: amo of another body", round)
		news := c["newsletters"].([]any)
		require.Len(t, news, 1, "round %d", round)
		require.Equal(t, tag, news[0].(map[string]any)["name"], "round %d: newsletters of another body", round)
		require.Equal(t, 1, a.count("SELECT count(*) FROM emails WHERE email_id::text = $1", id))
	}
}

// TestDeleteRacingWrites: a DELETE racing a PATCH, a PUT and a POST on the same
// contact never makes any of them answer 5xx. Each loser answers as if it had
// come just after the winner: a PATCH after the DELETE finds no contact (404),
// a PUT or POST after it creates the contact again (201).
func TestDeleteRacingWrites(t *testing.T) {
	t.Parallel()
	a := newRaceAPI(t)
	for round := range raceRounds {
		id, email := uuid.NewString(), newEmail()
		original := obj{"email": obj{"email_id": id, "primary_email": email},
			"fxa": obj{"fxa_id": "fxa-" + id}, "newsletters": arr{obj{"name": "original"}}}
		a.create(original)

		type answer struct {
			op     string
			status int
			body   string
		}
		ops := []func() (string, *response, error){
			func() (string, *response, error) {
				r, err := a.send("DELETE", "/ctms/"+url.PathEscape(email), nil)
				return "DELETE", r, err
			},
			func() (string, *response, error) {
				r, err := a.send("PATCH", "/ctms/"+id, obj{"email": obj{"first_name": "patched"},
					"amo": obj{"display_name": "patched"}, "newsletters": arr{obj{"name": "patched"}},
					"waitlists": arr{obj{"name": "patched"}}})
				return "PATCH", r, err
			},
			func() (string, *response, error) {
				r, err := a.send("PUT", "/ctms/"+id, obj{"email": obj{"email_id": id, "primary_email": email, "first_name": "put"},
					"mofo": obj{"mofo_relevant": true}, "newsletters": arr{obj{"name": "put"}}})
				return "PUT", r, err
			},
			func() (string, *response, error) {
				r, err := a.send("POST", "/ctms", original)
				return "POST", r, err
			},
		}
		answers := make([]answer, len(ops))
		var wg sync.WaitGroup
		for i, op := range ops {
			wg.Go(func() {
				name, r, err := op()
				answers[i].op = name
				if err == nil {
					answers[i].status, answers[i].body = r.Status, string(r.Body)
				}
			})
		}
		wg.Wait()

		allowed := map[string][]int{
			"DELETE": {http.StatusOK},
			"PATCH":  {http.StatusOK, http.StatusNotFound},
			"PUT":    {http.StatusCreated},
			// 200: the original still stood; 201: created again after the DELETE;
			// 409: the PUT's different contact stood.
			"POST": {http.StatusOK, http.StatusCreated, http.StatusConflict},
		}
		for _, ans := range answers {
			require.Contains(t, allowed[ans.op], ans.status, "round %d, %s: %s", round, ans.op, ans.body)
		}
		// Whatever won, the contact is whole or gone: no child row is left over.
		if a.count("SELECT count(*) FROM emails WHERE email_id::text = $1", id) == 0 {
			a.noRows(id)
		} else {
			a.get(id)
		}
	}
}
