package httpapi

import (
	"encoding/json"
	"math/rand/v2"
	"testing"

	"github.com/google/uuid"

	"github.com/ctms-go/ctms/gen/api"
	"github.com/ctms-go/ctms/internal/fastapi"
)

// The appenders write, for random responses, the bytes of the generated
// encoding through fastapi's Python form (fastapi.Marshal).
func TestJSONWriteMatchesGeneratedEncoding(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for range 2000 {
		single := randomSingle(rng)
		want, err := fastapi.Marshal(single)
		if err != nil {
			t.Fatal(err)
		}
		c := api.CTMSResponse{Amo: single.Amo, Email: single.Email, Fxa: single.Fxa, Mofo: single.Mofo, Newsletters: single.Newsletters,
			Waitlists: single.Waitlists, VpnWaitlist: single.VpnWaitlist, RelayWaitlist: single.RelayWaitlist}
		if got := appendContact(nil, &c, true); string(got) != string(want) {
			t.Fatalf("single contact:\n got %s\nwant %s", got, want)
		}
		bulk := api.CTMSBulkResponse{Start: pick(rng), End: pick(rng), Limit: rng.IntN(1001), After: optPick(rng), Next: optPick(rng)}
		if rng.IntN(4) > 0 {
			for range rng.IntN(4) {
				bulk.Items = append(bulk.Items, api.CTMSResponse(randomContactFields(rng)))
			}
		}
		if want, err = fastapi.Marshal(bulk); err != nil {
			t.Fatal(err)
		}
		if got := appendBulk(nil, &bulk); string(got) != string(want) {
			t.Fatalf("bulk:\n got %s\nwant %s", got, want)
		}
		if want, err = fastapi.Marshal(bulk.Items); err != nil {
			t.Fatal(err)
		}
		if got := appendContacts(nil, bulk.Items); string(got) != string(want) { // GET /ctms
			t.Fatalf("list:\n got %s\nwant %s", got, want)
		}
	}
}

var sampleStrings = []string{"", "x", "ada@example.com", `q"uote\`, "<b>&", "\u2028\u2029", "ctl\x00\x1f\n\t", "bad\xff", "é漢🙂",
	"2021-03-28T15:41:00.123456+00:00", `\u003c`}

var sampleFields = []string{`{}`, `{"geo":"fr","platform":"windows,mac"}`, ` { "a" : [1, 2.5, "<x>", "\u003c"] } `, `null`, `{"k":{"n":null}}`}

func pick(rng *rand.Rand) string { return sampleStrings[rng.IntN(len(sampleStrings))] }

func optPick(rng *rand.Rand) *string {
	if rng.IntN(3) == 0 {
		return nil
	}
	return new(pick(rng))
}

func optUUID(rng *rand.Rand) *uuid.UUID {
	if rng.IntN(2) == 0 {
		return nil
	}
	return new(uuid.New())
}

// contactFields is api.CTMSResponse's shape (convertible to it).
type contactFields api.CTMSResponse

func randomContactFields(rng *rand.Rand) contactFields {
	c := contactFields{
		Amo: api.AddOnsSchema{AddOnIds: optPick(rng), DisplayName: optPick(rng), EmailOptIn: rng.IntN(2) == 0,
			Language: optPick(rng), LastLogin: optPick(rng), Location: optPick(rng), ProfileUrl: optPick(rng),
			User: rng.IntN(2) == 0, UserId: optPick(rng), Username: optPick(rng), CreateTimestamp: optPick(rng), UpdateTimestamp: optPick(rng)},
		Email: api.EmailSchema{PrimaryEmail: pick(rng), BasketToken: optUUID(rng), DoubleOptIn: rng.IntN(2) == 0,
			SfdcId: optPick(rng), FirstName: optPick(rng), LastName: optPick(rng), MailingCountry: optPick(rng),
			EmailFormat: api.EmailSchemaEmailFormat(pick(rng)), EmailLang: optPick(rng), HasOptedOutOfEmail: rng.IntN(2) == 0,
			UnsubscribeReason: optPick(rng), EmailId: uuid.New(), CreateTimestamp: pick(rng), UpdateTimestamp: pick(rng)},
		Fxa: api.FirefoxAccountsSchema{FxaId: optPick(rng), PrimaryEmail: optPick(rng), CreatedDate: optPick(rng),
			Lang: optPick(rng), FirstService: optPick(rng), AccountDeleted: rng.IntN(2) == 0},
		Mofo:          api.MozillaFoundationSchema{MofoEmailId: optPick(rng), MofoContactId: optPick(rng), MofoRelevant: rng.IntN(2) == 0},
		VpnWaitlist:   api.VpnWaitlistSchema{Geo: optPick(rng), Platform: optPick(rng)},
		RelayWaitlist: api.RelayWaitlistSchema{Geo: optPick(rng)},
	}
	if rng.IntN(5) > 0 {
		c.Newsletters = []api.NewsletterTimestampedSchema{}
		for range rng.IntN(4) {
			c.Newsletters = append(c.Newsletters, api.NewsletterTimestampedSchema{Name: pick(rng), Subscribed: rng.IntN(2) == 0,
				Format: api.NewsletterTimestampedSchemaFormat(pick(rng)), Lang: optPick(rng), Source: optPick(rng),
				UnsubReason: optPick(rng), CreateTimestamp: pick(rng), UpdateTimestamp: pick(rng)})
		}
	}
	if rng.IntN(5) > 0 {
		c.Waitlists = []api.WaitlistTimestampedSchema{}
		for range rng.IntN(3) {
			c.Waitlists = append(c.Waitlists, api.WaitlistTimestampedSchema{Name: pick(rng), Source: optPick(rng),
				Fields: json.RawMessage(sampleFields[rng.IntN(len(sampleFields))]), Subscribed: rng.IntN(2) == 0,
				UnsubReason: optPick(rng), CreateTimestamp: pick(rng), UpdateTimestamp: pick(rng)})
		}
	}
	return c
}

func randomSingle(rng *rand.Rand) api.CTMSSingleResponse {
	c := randomContactFields(rng)
	return api.CTMSSingleResponse{Amo: c.Amo, Email: c.Email, Fxa: c.Fxa, Mofo: c.Mofo, Newsletters: c.Newsletters,
		Waitlists: c.Waitlists, VpnWaitlist: c.VpnWaitlist, RelayWaitlist: c.RelayWaitlist, Status: api.Ok}
}
