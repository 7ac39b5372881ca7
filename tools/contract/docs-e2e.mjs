// make e2e (scripts/e2e.sh): load the API documentation pages of a running server, /docs
// (Swagger UI) and /redoc (ReDoc), in headless Chromium and check that
//   - every operation of the spec (its operationId and its summary) is listed on each page,
//   - no request goes to any host but the server (every request is recorded; the docs are
//     served from assets embedded in the binary, nothing may come from a CDN),
//   - the pages raise no uncaught JavaScript error and every request to the server succeeds.
//
// usage: node docs-e2e.mjs BASE_URL SPEC_YAML
// env:   CHROMIUM (default /usr/bin/chromium), E2E_ARTIFACTS (a folder: screenshots go there),
//        E2E_TIMEOUT_MS (whole run, default 120000)
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import yaml from "js-yaml";
import { chromium } from "playwright-core";

const [base, specPath] = process.argv.slice(2);
if (!base || !specPath) {
  console.error("usage: node docs-e2e.mjs BASE_URL SPEC_YAML");
  process.exit(2);
}
const origin = new URL(base).origin;
const deadline = Number(process.env.E2E_TIMEOUT_MS || 120000);
const watchdog = setTimeout(() => {
  console.error(`docs-e2e: gave up after ${deadline} ms`);
  process.exit(1);
}, deadline);

// The operations of the spec.
const spec = yaml.load(readFileSync(specPath, "utf8"));
const methods = ["get", "put", "post", "delete", "options", "head", "patch", "trace"];
const operations = [];
for (const [path, item] of Object.entries(spec.paths)) {
  for (const method of methods) {
    const op = item[method];
    if (op) operations.push({ path, method, id: op.operationId, summary: op.summary, tag: (op.tags || [])[0] });
  }
}
if (operations.length === 0 || operations.some((op) => !op.id || !op.summary || !op.tag)) {
  console.error("docs-e2e: every operation of the spec needs an operationId, a summary and a tag");
  process.exit(1);
}

const failures = [];
const fail = (msg) => {
  failures.push(msg);
  console.error(`FAIL ${msg}`);
};

// A request leaves the server when it is not to its origin; data:, blob: and about: URLs load
// nothing from a network.
const local = (url) => {
  const u = new URL(url);
  if (["data:", "blob:", "about:"].includes(u.protocol)) return true;
  return u.origin === origin;
};

const userDataDir = mkdtempSync(join(tmpdir(), "ctms-e2e-chromium-"));
let context;
try {
  context = await chromium.launchPersistentContext(userDataDir, {
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    headless: true,
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
    timeout: 60000,
  });
  // Nothing reaches another host: such a request is recorded (below) and aborted here.
  await context.route("**/*", (route) => (local(route.request().url()) ? route.continue() : route.abort()));

  for (const { path, check } of [
    { path: "/docs", check: checkSwaggerUI },
    { path: "/redoc", check: checkReDoc },
  ]) {
    const started = Date.now();
    const page = await context.newPage();
    const requests = [];
    page.on("request", (req) => requests.push(req.url()));
    page.on("requestfailed", (req) => {
      if (local(req.url())) fail(`${path}: request ${req.url()} failed: ${req.failure()?.errorText}`);
    });
    page.on("response", (rsp) => {
      if (local(rsp.url()) && rsp.status() >= 400) fail(`${path}: ${rsp.url()} answered ${rsp.status()}`);
    });
    page.on("pageerror", (err) => fail(`${path}: uncaught error in the page: ${err.message}`));

    const rsp = await page.goto(origin + path, { waitUntil: "load", timeout: 30000 });
    if (!rsp || rsp.status() !== 200) fail(`${path}: answered ${rsp?.status()}`);
    await check(page, path);
    await page.waitForLoadState("networkidle", { timeout: 15000 }).catch(() => {});
    if (process.env.E2E_ARTIFACTS) {
      await page.screenshot({ path: join(process.env.E2E_ARTIFACTS, `${path.slice(1)}.png`), fullPage: false });
    }

    const outside = requests.filter((url) => !local(url));
    for (const url of outside) fail(`${path}: request to another host: ${url}`);
    console.log(
      `${path}: ${operations.length} operations listed; ${requests.length} requests, ` +
        `${outside.length} to other hosts (${Date.now() - started} ms)`,
    );
    await page.close();
  }
} catch (err) {
  fail(`${err.stack || err}`);
} finally {
  await context?.close().catch(() => {});
  rmSync(userDataDir, { recursive: true, force: true });
  clearTimeout(watchdog);
}

if (failures.length > 0) {
  console.error(`docs-e2e: ${failures.length} failure(s)`);
  process.exit(1);
}
console.log(`docs-e2e: /docs and /redoc list all ${operations.length} operations and load nothing from other hosts`);

// Swagger UI: one block per operation, with id "operations-<tag>-<operationId>", showing the
// summary. Tags are expanded (docExpansion "list").
async function checkSwaggerUI(page, path) {
  await waitForCount(page, ".opblock");
  const listed = await page.$$eval(".opblock", (blocks) =>
    blocks.map((b) => ({
      id: b.id,
      summary: b.querySelector(".opblock-summary-description")?.textContent?.trim() ?? "",
    })),
  );
  for (const op of operations) {
    const block = listed.find((b) => b.id === `operations-${op.tag}-${op.id}`);
    if (!block) fail(`${path}: ${op.method.toUpperCase()} ${op.path} (${op.id}) is not listed`);
    else if (block.summary !== op.summary) fail(`${path}: ${op.id} shows summary "${block.summary}", not "${op.summary}"`);
  }
  if (listed.length !== operations.length) fail(`${path}: ${listed.length} operations listed, the spec has ${operations.length}`);
}

// ReDoc: one section per operation, with id "tag/<tag>/operation/<operationId>", whose
// heading is the summary; the side menu has an entry per tag.
async function checkReDoc(page, path) {
  const selector = '[id^="tag/"][id*="/operation/"]';
  await waitForCount(page, selector);
  const sections = await page.$$eval(selector, (els) =>
    els.map((el) => ({ id: el.id, heading: el.querySelector("h2")?.textContent?.trim() ?? "" })),
  );
  for (const op of operations) {
    const section = sections.find((s) => s.id === `tag/${op.tag}/operation/${op.id}`);
    if (!section) fail(`${path}: ${op.method.toUpperCase()} ${op.path} (${op.id}) is not listed`);
    else if (section.heading !== op.summary) fail(`${path}: ${op.id} has heading "${section.heading}", not "${op.summary}"`);
  }
  if (sections.length !== operations.length) fail(`${path}: ${sections.length} operations listed, the spec has ${operations.length}`);
  const menu = await page.$$eval("li[data-item-id]", (els) => els.map((el) => el.getAttribute("data-item-id")));
  for (const tag of new Set(operations.map((op) => op.tag))) {
    if (!menu.includes(`tag/${tag}`)) fail(`${path}: the menu has no entry for the tag ${tag}`);
  }
}

// waitForCount waits (at most 30 s) until the page shows one element per operation; the
// checks then say what is missing.
async function waitForCount(page, selector) {
  await page
    .waitForFunction(([sel, n]) => document.querySelectorAll(sel).length >= n, [selector, operations.length], {
      timeout: 30000,
    })
    .catch(() => {});
}
