package main

import "strings"

// operation is one benchmarked API operation: wrk's request() for the service, the
// pgbench script of its ceiling, and its target (issue 12: ratio to the ceiling).
type operation struct {
	key, name string
	target    float64
	want      int  // the expected HTTP status
	deletes   bool // takes each contact once from a reserved range: no warm-up, run last
	lua       string
	pgbench   string
}

// The bodies the writes send, and the same values for the ceiling.
const (
	postNewsletterSource = "https://www.mozilla.org/en-US/newsletter/"
	postWaitlistSource   = "https://www.mozilla.org/en-US/products/vpn/"
	postWaitlistFields   = `{"geo": "fr", "platform": "windows,mac"}`
	updatesStart         = "2020-12-31" // before every seeded contact (seedBase)
	updatesLimit         = "100"
)

var patchNewsletters = []string{"mozilla-and-you", "firefox-news", "mozilla-foundation", "about-mozilla"}

// luaNewsletter is one newsletter item of a POST or PUT body; subscribed is a Lua expression.
func luaNewsletter(name, subscribed string) string {
	return `{"name":"` + name + `","subscribed":' .. ` + subscribed + ` .. ',"format":"H","lang":"fr","source":"` + postNewsletterSource + `"}`
}

const luaWaitlist = `{"name":"vpn","source":"` + postWaitlistSource + `","fields":{"geo":"fr","platform":"windows,mac"}}`

func operationList() []operation {
	readBack := bind(sqlContactByID, idExpr)
	newsletterNames := sqlList("mozilla-and-you", "firefox-news")
	return []operation{
		{key: "get_id", name: "GET /ctms/{email_id}", target: 0.6, want: 200,
			lua:     `function request() return wrk.format("GET", "/ctms/" .. idOf(readable()), headers) end`,
			pgbench: pickReadable + bind(sqlContactByID, idExpr)},
		{key: "get_email", name: "GET /ctms?primary_email=", target: 0.6, want: 200,
			lua:     `function request() return wrk.format("GET", "/ctms?primary_email=bench" .. readable() .. "%40example.com", headers) end`,
			pgbench: pickReadable + bind(sqlContactByEmail, emailExpr)},
		{key: "identities", name: "GET /identities?primary_email=", want: 200,
			lua:     `function request() return wrk.format("GET", "/identities?primary_email=bench" .. readable() .. "%40example.com", headers) end`,
			pgbench: pickReadable + bind(sqlIdentityByEmail, emailExpr)},
		{key: "updates", name: "GET /updates (page of 100)", target: 0.5, want: 200,
			lua: `local path = "/updates?start=` + updatesStart + `T00%3A00%3A00Z&limit=` + updatesLimit + `"
function request() return wrk.format("GET", path, headers) end`,
			pgbench: bind(sqlUpdatesFirst, "'"+updatesStart+"'::timestamptz", "now()", updatesLimit)},
		{key: "post", name: "POST /ctms", target: 0.5, want: 201,
			lua: `function request()
  local id = uuid4()
  local body = '{"email":{"email_id":"' .. id .. '","primary_email":"post.' .. id .. '@example.org","first_name":"Ada",' ..
    '"mailing_country":"fr","email_lang":"fr","email_format":"H"},"newsletters":[` +
				luaNewsletter("mozilla-and-you", `"true"`) + "," + luaNewsletter("firefox-news", `"true"`) + `],"waitlists":[` + luaWaitlist + `]}'
  return wrk.format("POST", "/ctms", jsonHeaders, body)
end`,
			pgbench: pickPost + pipeline(
				bind(sqlInsertEmail, idExpr, `'post.' || :n::bigint || '@example.org'`, "'Ada'", "'fr'", "'fr'"),
				bind(sqlUpsertNewsletters, idExpr, newsletterNames, "ARRAY[true, true]", "'fr'", sqlList(postNewsletterSource, postNewsletterSource)),
				bind(sqlUpsertWaitlists, idExpr, sqlList("vpn"), sqlList(postWaitlistSource), sqlList(postWaitlistFields)),
				readBack)},
		{key: "put", name: "PUT /ctms/{email_id}", target: 0.4, want: 201,
			lua: `function request()
  local n = readable()
  local id = idOf(n)
  local body = '{"email":{"email_id":"' .. id .. '","primary_email":"' .. emailOf(n) .. '","basket_token":"' .. tokenOf(n) ..
    '","double_opt_in":false,"sfdc_id":null,"first_name":"Ada' .. math.random(0, 9) .. '","last_name":"Lovelace",' ..
    '"mailing_country":"fr","email_format":"H","email_lang":"fr","has_opted_out_of_email":false},"newsletters":[` +
				luaNewsletter("mozilla-and-you", "bool()") + "," + luaNewsletter("firefox-news", `"true"`) + `],"waitlists":[` + luaWaitlist + `]}'
  return wrk.format("PUT", "/ctms/" .. id, jsonHeaders, body)
end`,
			pgbench: pickReadable + "\\set f random(0, 9)\n\\set s random(0, 1)\n" + pipeline(
				bind(sqlUpsertEmail, idExpr, emailExpr, tokenExpr, "NULL", "'Ada' || :f::int", "'Lovelace'", "'fr'", "'fr'", "false", "false"),
				bind(sqlDeleteOtherNewsletters, idExpr, newsletterNames),
				bind(sqlUpsertNewsletters, idExpr, newsletterNames, "ARRAY[:s::int = 1, true]", "'fr'", sqlList(postNewsletterSource, postNewsletterSource)),
				bind(sqlDeleteOtherWaitlists, idExpr, sqlList("vpn")),
				bind(sqlUpsertWaitlists, idExpr, sqlList("vpn"), sqlList(postWaitlistSource), sqlList(postWaitlistFields)),
				bind("DELETE FROM amo WHERE email_id = $1", idExpr),
				bind("DELETE FROM fxa WHERE email_id = $1", idExpr),
				bind("DELETE FROM mofo WHERE email_id = $1", idExpr),
				readBack)},
		{key: "patch", name: "PATCH /ctms/{email_id}", target: 0.4, want: 200,
			lua: `local NAMES = {"` + strings.Join(patchNewsletters, `", "`) + `"}
function request()
  local body = '{"newsletters":[{"name":"' .. NAMES[math.random(1, #NAMES)] .. '","subscribed":' .. bool() .. '}]}'
  return wrk.format("PATCH", "/ctms/" .. idOf(readable()), jsonHeaders, body)
end`,
			pgbench: pickReadable + "\\set k random(1, 4)\n\\set s random(0, 1)\n" + pipeline(
				bind("UPDATE emails SET update_timestamp = now() WHERE email_id = $1", idExpr),
				bind(sqlPatchNewsletter, idExpr, "("+sqlList(patchNewsletters...)+")[:k::int]", ":s::int = 1"),
				readBack)},
		{key: "delete", name: "DELETE /ctms/{primary_email}", target: 0.5, want: 200, deletes: true,
			lua: `function request()
  local n = DEL_BASE + tid + NTHREADS * seq
  seq = seq + 1
  if n >= DEL_BASE + DEL_SIZE then exhausted = 1 end
  return wrk.format("DELETE", "/ctms/" .. emailOf(n), headers)
end`,
			pgbench: pickDelete + pipeline(
				bind(sqlIdentityByEmail, emailExpr),
				bind(sqlDeleteChildrenByEmail, emailExpr),
				bind("DELETE FROM emails WHERE lower(primary_email) = lower($1)", emailExpr))},
	}
}
