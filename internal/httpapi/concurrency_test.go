package httpapi_test

import (
	"fmt"
	"net/http"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestConcurrentPutAndPatch: PUTs and PATCHes racing on one contact all succeed (no
// deadlock, no 500), and every response, like the final state, is one consistent
// contact: the email row, the amo row and the newsletters written by one PUT go
// together, plus whole PATCHes applied after it; no row is duplicated.
func TestConcurrentPutAndPatch(t *testing.T) {
	t.Parallel()
	a := newAPI(t)
	id, body := newContact()
	email := body["email"].(obj)["primary_email"].(string)
	a.create(body)

	const puts, patches = 8, 8
	type answer struct {
		op     string
		status int
		body   map[string]any
		err    error
	}
	answers := make([]answer, puts+patches)
	var wg sync.WaitGroup
	for i := range puts + patches {
		wg.Go(func() {
			var r *response
			var err error
			if i < puts {
				tag := fmt.Sprintf("put-%d", i)
				r, err = a.send("PUT", "/ctms/"+id, obj{
					"email":       obj{"email_id": id, "primary_email": email, "first_name": tag},
					"amo":         obj{"display_name": tag, "user_id": tag},
					"newsletters": arr{obj{"name": tag}},
				})
			} else {
				tag := fmt.Sprintf("patch-%d", i)
				r, err = a.send("PATCH", "/ctms/"+id, obj{"email": obj{"last_name": tag}, "newsletters": arr{obj{"name": tag}}})
			}
			answers[i] = answer{op: map[bool]string{true: "PUT", false: "PATCH"}[i < puts], err: err}
			if err == nil {
				answers[i].status = r.Status
				if r.Status < 300 {
					answers[i].body = r.Object(t)
				}
			}
		})
	}
	wg.Wait()

	// consistent checks one contact: the PUT that last replaced it shows in every
	// table, and the newsletters are that PUT's plus PATCHes' (each once).
	consistent := func(what string, c map[string]any) (put string, news []string) {
		t.Helper()
		e, amo := c["email"].(map[string]any), c["amo"].(map[string]any)
		require.Equal(t, e["first_name"], amo["display_name"], "%s: email and amo from different PUTs", what)
		require.Equal(t, e["first_name"], amo["user_id"], "%s: amo from different PUTs", what)
		put, _ = e["first_name"].(string) // "" before any PUT
		for _, n := range c["newsletters"].([]any) {
			news = append(news, n.(map[string]any)["name"].(string))
		}
		seen := map[string]bool{}
		for _, n := range news {
			require.False(t, seen[n], "%s: newsletter %s twice", what, n)
			seen[n] = true
			if strings.HasPrefix(n, "put-") {
				require.Equal(t, put, n, "%s: newsletters of another PUT than the email's", what)
			}
		}
		if strings.HasPrefix(put, "put-") {
			require.True(t, seen[put], "%s: the newsletters of %s are missing", what, put)
		}
		return put, news
	}
	for i, ans := range answers {
		require.NoError(t, ans.err, "request %d", i)
		what := fmt.Sprintf("%s %d", ans.op, i)
		switch ans.op {
		case "PUT":
			require.Equal(t, http.StatusCreated, ans.status, what)
			put, news := consistent(what, ans.body)
			require.Equal(t, fmt.Sprintf("put-%d", i), put, "%s answers another write's state", what)
			require.Equal(t, []string{put}, news, "%s: PUT replaces the newsletters", what)
		case "PATCH":
			require.Equal(t, http.StatusOK, ans.status, what)
			_, news := consistent(what, ans.body)
			require.Contains(t, news, fmt.Sprintf("patch-%d", i), what)
		}
	}
	put, news := consistent("final state", a.get(id))
	require.True(t, strings.HasPrefix(put, "put-"), "final state: %q", put)
	sort.Strings(news)
	require.Equal(t, 1, a.count("SELECT count(*) FROM emails WHERE email_id::text = $1", id))
	require.Equal(t, 1, a.count("SELECT count(*) FROM amo WHERE email_id::text = $1", id))
	require.Equal(t, len(news), a.count("SELECT count(*) FROM newsletters WHERE email_id::text = $1", id))
}
