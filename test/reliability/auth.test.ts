import { randomBytes } from "node:crypto";
import WebSocket from "ws";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Scope } from "../../core/index.js";
import type { Access } from "../../functions/routes/access.js";
import { signBody, signWebhook, slackSignature } from "../../functions/services/credentials.js";
import { openPipeline, type Pipeline } from "../support/pipeline.js";
import { eventually } from "../support/wait.js";
import { record } from "./figures.js";
import { apiRoutes, concrete, logSize } from "./stack.js";

/**
 * Forged, stale, revoked and cross-scope credentials on every route and on the agents' WebSocket:
 * every one refused (401 or 403), and nothing written to the log.
 */

let p: Pipeline;
const keys: Record<string, string> = {};
/** Dashboard sessions (cookie and CSRF token): the admin's, a read-only key's, and one whose key was revoked. */
const sessions: Record<string, { cookie: string; csrf: string }> = {};
let instructionId = "";

/** Signs in through the dashboard's form, as a browser on the dashboard's own origin would. */
async function signIn(key: string): Promise<{ cookie: string; csrf: string }> {
  const res = await fetch(`${p.stack.httpUrl}/login`, {
    method: "POST",
    redirect: "manual",
    headers: { "content-type": "application/x-www-form-urlencoded", origin: p.stack.httpUrl },
    body: new URLSearchParams({ key }).toString(),
  });
  expect(res.status).toBe(303);
  const cookie = /slipway_session=([^;]+)/.exec(res.headers.get("set-cookie") ?? "")![1]!;
  const page = await (
    await fetch(`${p.stack.httpUrl}/runtimes`, { headers: { cookie: `slipway_session=${cookie}` } })
  ).text();
  return { cookie, csrf: /<meta name="slipway-csrf" content="([^"]+)"/.exec(page)![1]! };
}

beforeAll(async () => {
  p = await openPipeline("auth");
  const issue = async (name: string, scopes: Scope[]) =>
    (await p.api("/v1/api-keys", { method: "POST", body: { name, scopes } })).body as { key: string; keyId: string };
  keys.read = (await issue("reader", ["read"])).key;
  keys.release = (await issue("releaser", ["release"])).key;
  keys.notAdmin = (await issue("everything-but-admin", ["read", "release", "approve"])).key;
  const revoked = await issue("revoked", ["admin"]);
  keys.revoked = revoked.key;
  sessions.admin = await signIn(p.secrets.adminApiKey);
  sessions.read = await signIn(keys.read);
  sessions.revoked = await signIn(revoked.key);
  expect((await p.api(`/v1/api-keys/${revoked.keyId}`, { method: "DELETE" })).status).toBe(204);
  // An instruction for staging exists, so the agent route has something to guard.
  await p.application("guarded");
  const releaseId = await p.release("guarded", "1.0.0");
  await eventually(() => p.convergedOn("guarded", "production", releaseId));
  instructionId = p.staging.instructions.at(-1)!.instructionId;
}, 120_000);
afterAll(() => p?.close());

/** The log's size once nothing has been appended for a second: the release has settled everywhere. */
async function quietLogSize(): Promise<number> {
  let size = await logSize(p.stack.dynamoEndpoint, p.stack.tables.events);
  for (;;) {
    await new Promise((r) => setTimeout(r, 1000));
    const now = await logSize(p.stack.dynamoEndpoint, p.stack.tables.events);
    if (now === size) return now;
    size = now;
  }
}

type Attempt = { what: string; headers: Record<string, string> };

/** Credentials that must not open a route of this access, and the statuses that say so. */
function attempts(access: Access): Attempt[] {
  const bearer = (token: string) => ({ authorization: `Bearer ${token}` });
  const forgedKey = `slw_${randomBytes(6).toString("hex")}_${randomBytes(32).toString("base64url")}`;
  const common: Attempt[] = [
    { what: "no credentials", headers: {} },
    { what: "a malformed Authorization header", headers: { authorization: "Basic YWRtaW46YWRtaW4=" } },
    { what: "a forged API key", headers: bearer(forgedKey) },
    { what: "a revoked admin key", headers: bearer(keys.revoked!) },
    { what: "an agent token", headers: bearer(p.tokens["k8s-staging"]) },
    { what: "the admin key with a character changed", headers: bearer(`${p.secrets.adminApiKey.slice(0, -1)}x`) },
  ];
  const now = String(Math.floor(Date.now() / 1000));
  switch (access) {
    case "public":
      return [];
    case "admin":
      return [...common, { what: "a key with every scope but admin", headers: bearer(keys.notAdmin!) }];
    case "page":
    case "read":
    case "approve":
      return [...common, { what: "a release-scoped key", headers: bearer(keys.release!) }];
    case "release":
    case "ci":
      return [
        ...common,
        { what: "a read-scoped key", headers: bearer(keys.read!) },
        {
          what: "a webhook signed correctly ten minutes ago",
          headers: {
            "x-slipway-timestamp": String(Number(now) - 600),
            "x-slipway-signature-256": signWebhook(p.secrets.webhookSecret, Number(now) - 600, "{}"),
          },
        },
        {
          what: "a webhook signed over the body alone",
          headers: { "x-slipway-timestamp": now, "x-slipway-signature-256": signBody(p.secrets.webhookSecret, "{}") },
        },
        {
          what: "a forged webhook signature",
          headers: {
            "x-slipway-signature-256": `sha256=${randomBytes(32).toString("hex")}`,
            "x-slipway-timestamp": now,
          },
        },
      ];
    case "slack": {
      const stale = String(Math.floor(Date.now() / 1000) - 600);
      return [
        { what: "no Slack signature", headers: {} },
        {
          what: "a forged Slack signature",
          headers: { "x-slack-request-timestamp": now, "x-slack-signature": `v0=${randomBytes(32).toString("hex")}` },
        },
        {
          what: "a Slack signature ten minutes old",
          headers: {
            "x-slack-request-timestamp": stale,
            "x-slack-signature": slackSignature(p.secrets.slackSigningSecret, stale, "payload=%7B%7D"),
          },
        },
      ];
    }
    case "agent":
      return [
        { what: "no token", headers: {} },
        { what: "the admin API key as an agent token", headers: bearer(p.secrets.adminApiKey) },
        { what: "another runtime's agent token", headers: bearer(p.tokens["k8s-production"]) },
        { what: "a forged agent token", headers: bearer(`slwa_${randomBytes(32).toString("base64url")}`) },
      ];
  }
}

/** Dashboard session cookies that must not open a route of this access and method. */
function sessionAttempts(access: Access, method: string): Attempt[] {
  if (access === "public" || access === "slack" || access === "agent") return [];
  const cookie = (s: { cookie: string }) => `slipway_session=${s.cookie}`;
  const fromPage = { origin: p.stack.httpUrl, "sec-fetch-site": "same-origin" };
  const forged = `${randomBytes(24).toString("base64url")}.${randomBytes(32).toString("base64url")}`;
  const out: Attempt[] = [
    { what: "a forged session cookie", headers: { cookie: `slipway_session=${forged}` } },
    {
      what: "the session of a revoked key",
      headers: { cookie: cookie(sessions.revoked!), "x-slipway-csrf": sessions.revoked!.csrf, ...fromPage },
    },
  ];
  // A read-only session may read (and see pages); it may not approve, release or administer.
  if (access !== "read" && access !== "page")
    out.push({
      what: "a read-only key's session",
      headers: { cookie: cookie(sessions.read!), "x-slipway-csrf": sessions.read!.csrf, ...fromPage },
    });
  if (method !== "GET" && method !== "HEAD")
    out.push(
      { what: "the admin's session without its CSRF token", headers: { cookie: cookie(sessions.admin!), ...fromPage } },
      {
        what: "the admin's session with another session's CSRF token",
        headers: { cookie: cookie(sessions.admin!), "x-slipway-csrf": sessions.read!.csrf, ...fromPage },
      },
      {
        what: "the admin's session from another site",
        headers: {
          cookie: cookie(sessions.admin!),
          "x-slipway-csrf": sessions.admin!.csrf,
          origin: "https://evil.example",
          "sec-fetch-site": "cross-site",
        },
      },
    );
  return out;
}

describe("forged and borrowed credentials", () => {
  it("are refused on every route, and write nothing", async () => {
    const before = await quietLogSize();
    const admitted: string[] = [];
    let refusals = 0;
    let cases = 0;
    for (const route of apiRoutes()) {
      const path = route.access === "agent" ? concrete(route.path, instructionId) : concrete(route.path, "x");
      for (const attempt of [...attempts(route.access), ...sessionAttempts(route.access, route.method)]) {
        cases++;
        const body =
          route.method === "GET" || route.method === "DELETE"
            ? undefined
            : route.access === "slack"
              ? "payload=%7B%7D"
              : "{}";
        const res = await fetch(`${p.stack.httpUrl}${path}`, {
          method: route.method,
          redirect: "manual",
          headers: {
            "content-type": route.access === "slack" ? "application/x-www-form-urlencoded" : "application/json",
            ...attempt.headers,
          },
          ...(body === undefined ? {} : { body }),
        });
        await res.body?.cancel();
        // A page sends a browser without a valid session to the sign-in form.
        const toSignIn =
          route.access === "page" && res.status === 303 && res.headers.get("location")?.startsWith("/login?");
        if (res.status === 401 || res.status === 403 || toSignIn) refusals++;
        else admitted.push(`${route.method} ${route.path} with ${attempt.what}: ${res.status}`);
      }
    }
    for (const [what, url, headers] of [
      ["no token", `${p.stack.wsUrl}?runtime=k8s-staging`, {}],
      ["a forged token", `${p.stack.wsUrl}?runtime=k8s-staging`, { authorization: "Bearer slwa_forged" }],
      [
        "another runtime's token",
        `${p.stack.wsUrl}?runtime=k8s-staging`,
        { authorization: `Bearer ${p.tokens["k8s-production"]}` },
      ],
      ["an API key", `${p.stack.wsUrl}?runtime=k8s-staging`, { authorization: `Bearer ${p.secrets.adminApiKey}` }],
    ] as const) {
      cases++;
      const status = await new Promise<number>((resolve) => {
        const ws = new WebSocket(url, { headers: { ...headers, "x-slipway-agent-version": "1.0.0" } });
        ws.once("open", () => {
          ws.close();
          resolve(101);
        });
        ws.once("unexpected-response", (_req, res) => resolve(res.statusCode ?? 0));
        ws.once("error", () => resolve(0));
      });
      if (status === 401 || status === 403) refusals++;
      else admitted.push(`WebSocket $connect with ${what}: ${status}`);
    }
    record("auth", { cases, refusals, admitted: admitted.length });
    expect(admitted).toEqual([]);
    expect(refusals).toBe(cases);
    expect(await logSize(p.stack.dynamoEndpoint, p.stack.tables.events)).toBe(before);
  });
});
