// Contract check of the published spec (make contract): TypeScript types are generated from
// api/openapi.yaml by openapi-typescript into gen/schema.d.ts, and this program, which calls
// every operation through openapi-fetch, must type-check with `tsc --noEmit --strict`.
// It is never run: only compiled.
//
// - `calls` must have one entry per operationId of the spec, no more, no less, and each entry's
//   path and method must be that operation's (see `Route` below): a new, renamed or moved
//   operation breaks the check until this file follows.
// - The `// @ts-expect-error` lines are calls that must NOT compile. If the generated types
//   weaken (a generator upgrade, a schema loosened into `any`), the line compiles, tsc reports
//   the unused directive, and the check fails.
import createClient from "openapi-fetch";
import type { components, operations, paths } from "./gen/schema";

type Schemas = components["schemas"];

const client = createClient<paths>({ baseUrl: "http://127.0.0.1:8000" });
const auth = { Authorization: "Bearer a-token" };
const emailId = "332de237-cab7-4461-bcc3-48e68f42bd5c";

// --- every operation ---------------------------------------------------------------------

// The path and method each operationId lives at; checked against the generated types below.
const routes = {
  login: ["/token", "post"],
  readCtmsByAnyId: ["/ctms", "get"],
  createCtmsContact: ["/ctms", "post"],
  readCtmsByEmailId: ["/ctms/{email_id}", "get"],
  createOrUpdateCtmsContact: ["/ctms/{email_id}", "put"],
  partialUpdateCtmsContact: ["/ctms/{email_id}", "patch"],
  deleteContactByPrimaryEmail: ["/ctms/{primary_email}", "delete"],
  readCtmsInBulkByUpdatedDate: ["/updates", "get"],
  readDeletions: ["/deletions", "get"],
  readIdentities: ["/identities", "get"],
  readIdentity: ["/identity/{email_id}", "get"],
  heartbeat: ["/__heartbeat__", "get"],
  heartbeatHead: ["/__heartbeat__", "head"],
  lbheartbeat: ["/__lbheartbeat__", "get"],
  lbheartbeatHead: ["/__lbheartbeat__", "head"],
  version: ["/__version__", "get"],
  metrics: ["/metrics", "get"],
} as const satisfies { [K in keyof operations]: readonly [keyof paths, string] };

// Route<K> is true when routes[K] names the operation K in the generated paths.
type Equal<A, B> = (<T>() => T extends A ? 1 : 2) extends <T>() => T extends B ? 1 : 2 ? true : false;
type RouteOf<K extends keyof typeof routes> = (typeof routes)[K];
type Route<K extends keyof typeof routes> = RouteOf<K>[1] extends keyof paths[RouteOf<K>[0]]
  ? Equal<paths[RouteOf<K>[0]][RouteOf<K>[1]], operations[K]>
  : false;
const routesMatch: { [K in keyof typeof routes]: Route<K> } = {
  login: true,
  readCtmsByAnyId: true,
  createCtmsContact: true,
  readCtmsByEmailId: true,
  createOrUpdateCtmsContact: true,
  partialUpdateCtmsContact: true,
  deleteContactByPrimaryEmail: true,
  readCtmsInBulkByUpdatedDate: true,
  readDeletions: true,
  readIdentities: true,
  readIdentity: true,
  heartbeat: true,
  heartbeatHead: true,
  lbheartbeat: true,
  lbheartbeatHead: true,
  version: true,
  metrics: true,
};

// /token takes a form, not JSON.
const form = (body: Schemas["TokenRequest"] | undefined) => {
  const params = new URLSearchParams();
  for (const [k, v] of Object.entries(body ?? {})) if (v !== undefined) params.set(k, v);
  return params;
};

const calls: { [K in keyof operations]: () => Promise<unknown> } = {
  async login() {
    const { data, error } = await client.POST("/token", {
      body: { grant_type: "client_credentials", client_id: "id_basket", client_secret: "secret_x" },
      bodySerializer: form,
      headers: { "Content-Type": "application/x-www-form-urlencoded" },
    });
    if (data) {
      const token: string = data.access_token;
      const kind: "bearer" = data.token_type;
      const seconds: number = data.expires_in;
      return [token, kind, seconds];
    }
    const detail: string | undefined = error && "detail" in error && typeof error.detail === "string" ? error.detail : undefined;
    return detail;
  },

  async readCtmsByAnyId() {
    const { data } = await client.GET("/ctms", {
      params: { query: { primary_email: "contact@example.com", fxa_id: "abc" } },
      headers: auth,
    });
    const first: string | undefined = data?.[0]?.email.primary_email;
    return first;
  },

  async createCtmsContact() {
    // The smallest valid contact: only email.primary_email is required.
    await client.POST("/ctms", { body: { email: { primary_email: "a@example.com" } }, headers: auth });
    const { data, response } = await client.POST("/ctms", {
      headers: auth,
      body: {
        email: {
          email_id: emailId,
          primary_email: "contact@example.com",
          basket_token: "c4a7d759-bb52-457b-896b-90f1d3ef8433",
          first_name: null,
          email_format: "H",
          email_lang: "en",
        },
        amo: { user_id: "123", email_opt_in: true },
        fxa: null,
        mofo: { mofo_relevant: false },
        newsletters: [{ name: "mozilla-welcome", subscribed: true, format: "T", lang: "fr" }],
        waitlists: [{ name: "vpn", fields: { geo: "fr", platform: "ios,mac" } }],
      },
    });
    const status: "ok" | undefined = data?.status;
    return [status, response.headers.get("Location")];
  },

  async readCtmsByEmailId() {
    const { data, error } = await client.GET("/ctms/{email_id}", {
      params: { path: { email_id: emailId } },
      headers: auth,
    });
    if (error) {
      return error.detail;
    }
    const lang: string | null = data.email.email_lang;
    const vpnGeo: string | null = data.vpn_waitlist.geo;
    const fields: { [key: string]: unknown } = data.waitlists[0].fields;
    return [lang, vpnGeo, fields];
  },

  async createOrUpdateCtmsContact() {
    const { data } = await client.PUT("/ctms/{email_id}", {
      params: { path: { email_id: emailId } },
      headers: auth,
      body: {
        email: { email_id: emailId, primary_email: "contact@example.com" },
        newsletters: [],
        waitlists: [{ name: "relay", fields: { geo: "de" } }],
      },
    });
    return data?.email.email_id;
  },

  async partialUpdateCtmsContact() {
    const { data } = await client.PATCH("/ctms/{email_id}", {
      params: { path: { email_id: emailId } },
      headers: auth,
      body: {
        email: { first_name: "Jane", sfdc_id: null },
        amo: "DELETE",
        fxa: { account_deleted: true },
        newsletters: "UNSUBSCRIBE",
        waitlists: [{ name: "vpn", subscribed: false, unsub_reason: "done" }],
      },
    });
    return data?.newsletters.map((n) => n.name);
  },

  async deleteContactByPrimaryEmail() {
    const { data } = await client.DELETE("/ctms/{primary_email}", {
      params: { path: { primary_email: "contact@example.com" } },
      headers: auth,
    });
    const ids: string[] | undefined = data?.map((identity) => identity.email_id);
    return ids;
  },

  async readCtmsInBulkByUpdatedDate() {
    const { data, error } = await client.GET("/updates", {
      params: { query: { start: "2020-01-22T03:24:00+00:00", limit: 10, mofo_relevant: true } },
      headers: auth,
    });
    if (error) {
      return error.detail;
    }
    const next: string | null = data.next;
    const items: Schemas["CTMSResponse"][] = data.items;
    return [next, items.length];
  },

  async readDeletions() {
    const { data, error } = await client.GET("/deletions", {
      params: { query: { start: "2020-01-22T03:24:00+00:00", limit: 10 } },
      headers: auth,
    });
    if (error) {
      return error.detail;
    }
    const next: string | null = data.next;
    const items: Schemas["DeletionTombstone"][] = data.items;
    const fxa: string | null | undefined = items[0]?.fxa_primary_email_hmac;
    return [next, items.map((t) => [t.email_id, t.deleted_at, t.primary_email_hmac, t.deleted_by]), fxa];
  },

  async readIdentities() {
    const { data } = await client.GET("/identities", {
      params: { query: { basket_token: "c4a7d759-bb52-457b-896b-90f1d3ef8433" } },
      headers: auth,
    });
    return data?.map((identity) => identity.fxa_primary_email);
  },

  async readIdentity() {
    const { data } = await client.GET("/identity/{email_id}", {
      params: { path: { email_id: emailId } },
      headers: auth,
    });
    const fxa: string | null | undefined = data?.fxa_id;
    return fxa;
  },

  async heartbeat() {
    const { data, error } = await client.GET("/__heartbeat__");
    const database: string | undefined = (data ?? error)?.checks["database"];
    return database;
  },

  async heartbeatHead() {
    const { response } = await client.HEAD("/__heartbeat__");
    return response.status;
  },

  async lbheartbeat() {
    const { data } = await client.GET("/__lbheartbeat__");
    const status: "ok" | undefined = data?.status;
    return status;
  },

  async lbheartbeatHead() {
    const { response } = await client.HEAD("/__lbheartbeat__");
    return response.ok;
  },

  async version() {
    const { data } = await client.GET("/__version__");
    return data?.commit;
  },

  async metrics() {
    const { data } = await client.GET("/metrics", { parseAs: "text" });
    return data;
  },
};

// --- calls that must not compile ----------------------------------------------------------

export async function mustNotCompile() {
  // A group must be an object or "DELETE".
  // @ts-expect-error amo is AddOnsPatchSchema | "DELETE", not a number
  await client.PATCH("/ctms/{email_id}", { params: { path: { email_id: emailId } }, body: { amo: 123 } });

  // Lists can only be unsubscribed as a whole, not subscribed.
  // @ts-expect-error newsletters is a list or "UNSUBSCRIBE"
  await client.PATCH("/ctms/{email_id}", { params: { path: { email_id: emailId } }, body: { newsletters: "SUBSCRIBE" } });

  // @ts-expect-error POST requires email
  await client.POST("/ctms", { body: { amo: { user_id: "1" } } });

  // @ts-expect-error POST requires email.primary_email
  await client.POST("/ctms", { body: { email: { first_name: "Jane" } } });

  // @ts-expect-error email_format is one of H, T, N, ""
  await client.POST("/ctms", { body: { email: { primary_email: "a@example.com", email_format: "X" } } });

  // @ts-expect-error PUT requires email.email_id
  await client.PUT("/ctms/{email_id}", { params: { path: { email_id: emailId } }, body: { email: { primary_email: "a@example.com" } } });

  // @ts-expect-error the path parameter email_id is required
  await client.GET("/ctms/{email_id}", {});

  // @ts-expect-error /updates requires start
  await client.GET("/updates", { params: { query: { limit: 10 } } });

  // @ts-expect-error limit is an integer
  await client.GET("/updates", { params: { query: { start: "2020-01-01", limit: "10" } } });

  // @ts-expect-error there is no such query parameter
  await client.GET("/identities", { params: { query: { email: "a@example.com" } } });

  // @ts-expect-error /deletions requires start
  await client.GET("/deletions", { params: { query: { limit: 10 } } });

  const deleted = await client.GET("/deletions", { params: { query: { start: "2020-01-01" } } });
  // @ts-expect-error a tombstone holds no address
  deleted.data?.items[0]?.primary_email;

  // @ts-expect-error /updates has no DELETE
  await client.DELETE("/updates", {});

  // @ts-expect-error there is no such path
  await client.GET("/contacts", {});

  const { data } = await client.GET("/ctms/{email_id}", { params: { path: { email_id: emailId } } });
  // @ts-expect-error a contact's email has no field "address"
  data?.email.address;
  // @ts-expect-error has_opted_out_of_email is a boolean
  const optedOut: string | undefined = data?.email.has_opted_out_of_email;
  return optedOut;
}

export { calls, routes, routesMatch };
