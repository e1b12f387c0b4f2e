import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { stringify } from "yaml";
import { SLIPWAY_VERSION, streams } from "../../core/index.js";
import type { EventStore } from "../../functions/adapters/event-store.js";
import { signBody, slackSignature } from "../../functions/services/credentials.js";
import { createHttpApp } from "../../functions/http.js";
import type { ApiDeps } from "../../functions/services/deps.js";
import { isolatedApiStorage } from "../support/dynamo.js";
import { capturedLogs } from "../support/logs.js";
import { docs, IMAGE } from "../support/fixtures.js";
import { signedWebhookHeaders } from "../support/webhooks.js";

const secrets = {
  adminApiKey: "admin-key-for-tests-0123456789",
  webhookSecret: "webhook-secret-for-tests",
  slackSigningSecret: "slack-secret",
};
let store: EventStore;
let drop: () => Promise<void>;
let deps: ApiDeps;
let app: ReturnType<typeof createHttpApp>;
const logs = capturedLogs();

beforeAll(async () => {
  const storage = await isolatedApiStorage();
  ({ store, drop } = storage);
  deps = {
    store,
    readModels: storage.readModels,
    secretStore: storage.secretStore,
    secrets,
    checks: { eventLog: async () => "ok" },
    logger: logs.logger,
  };
  app = createHttpApp(deps);
});
afterAll(() => drop());

const admin = { authorization: `Bearer ${secrets.adminApiKey}` };
const yamlBody = (...documents: object[]) => documents.map((d) => stringify(d)).join("---\n");
const putConfig = (body: string, headers: Record<string, string> = {}) =>
  app.request("/v1/configs", {
    method: "PUT",
    body,
    headers: { "content-type": "application/yaml", ...admin, ...headers },
  });
const webhook = (payload: object, headers: Record<string, string> = {}, secret = secrets.webhookSecret) => {
  const body = JSON.stringify(payload);
  return app.request("/v1/webhooks/ci", {
    method: "POST",
    body,
    headers: { "content-type": "application/json", ...signedWebhookHeaders(secret, body), ...headers },
  });
};
const release = {
  application: "shop",
  service: "api",
  params: { image: IMAGE },
  source: { commit: "abc123", branch: "main" },
};

async function problemOf(res: Response) {
  expect(res.headers.get("content-type")).toContain("application/problem+json");
  return (await res.json()) as {
    status: number;
    code: string;
    detail: string;
    errors?: { path: string; message: string }[];
  };
}

describe("HTTP API", () => {
  describe("/healthz", () => {
    // Checks that name internal resources, as the real ones do (table, queue URL, stream ARN, WebSocket URL).
    const internal = {
      eventLog: async () => "table slipway-test-events is active",
      queues: async () => "http://127.0.0.1:9324/000000000000/slipway-test-preconditions: 0 ready",
      streamSubscribers: async () =>
        "2 subscriber(s) polling arn:aws:dynamodb:us-east-1:000000000000:table/slipway-test-events/stream/x",
    };
    const failing = {
      ...internal,
      websocket: async (): Promise<string> => {
        throw new Error("connect ECONNREFUSED 127.0.0.1:8788 (ws://127.0.0.1:8788/local)");
      },
    };
    const healthApp = (checks: Record<string, () => Promise<string>>) => createHttpApp({ ...deps, checks });
    const keyWith = async (name: string, scopes: string[]) => {
      const res = await app.request("/v1/api-keys", {
        method: "POST",
        headers: { ...admin, "content-type": "application/json" },
        body: JSON.stringify({ name, scopes }),
      });
      expect(res.status).toBe(201);
      return { authorization: `Bearer ${((await res.json()) as { key: string }).key}` };
    };
    const revealsNothing = (text: string) => {
      for (const secret of ["http://", "ws://", "arn:", "127.0.0.1", "slipway-test", "table", "ECONNREFUSED"])
        expect(text).not.toContain(secret);
    };

    it("answers anyone with only its status and version", async () => {
      const res = await healthApp(internal).request("/healthz");
      expect(res.status).toBe(200);
      const text = await res.text();
      expect(JSON.parse(text)).toStrictEqual({ status: "ok", version: SLIPWAY_VERSION });
      revealsNothing(text);
      expect(res.headers.get("cache-control")).toBe("no-store");
    });

    it("answers anyone 503 degraded when a check fails, still without its detail", async () => {
      const res = await healthApp(failing).request("/healthz");
      expect(res.status).toBe(503);
      const text = await res.text();
      expect(JSON.parse(text)).toStrictEqual({ status: "degraded", version: SLIPWAY_VERSION });
      revealsNothing(text);
    });

    it("shows each check and its detail to a read key and to admin", async () => {
      const reader = await keyWith("health-reader", ["read"]);
      for (const headers of [reader, admin]) {
        const res = await healthApp(failing).request("/healthz", { headers });
        expect(res.status).toBe(503);
        expect(await res.json()).toStrictEqual({
          status: "degraded",
          version: SLIPWAY_VERSION,
          components: {
            eventLog: { ok: true, detail: "table slipway-test-events is active" },
            queues: { ok: true, detail: "http://127.0.0.1:9324/000000000000/slipway-test-preconditions: 0 ready" },
            streamSubscribers: {
              ok: true,
              detail:
                "2 subscriber(s) polling arn:aws:dynamodb:us-east-1:000000000000:table/slipway-test-events/stream/x",
            },
            websocket: { ok: false, detail: "connect ECONNREFUSED 127.0.0.1:8788 (ws://127.0.0.1:8788/local)" },
          },
        });
      }
      const healthy = await healthApp(internal).request("/healthz", { headers: reader });
      expect(healthy.status).toBe(200);
      expect(((await healthy.json()) as { status: string }).status).toBe("ok");
    });

    it("refuses a key that is not valid (401) or lacks read (403), as other routes do", async () => {
      const unknown = await healthApp(internal).request("/healthz", {
        headers: { authorization: "Bearer slw_0123456789ab_" + "x".repeat(43) },
      });
      expect(unknown.status).toBe(401);
      expect(unknown.headers.get("www-authenticate")).toContain("Bearer");
      expect((await problemOf(unknown)).code).toBe("auth.invalid_key");
      const malformed = await healthApp(internal).request("/healthz", { headers: { authorization: "Basic abc" } });
      expect((await problemOf(malformed)).code).toBe("auth.malformed");

      const releaser = await keyWith("health-releaser", ["release"]);
      const lacking = await healthApp(internal).request("/healthz", { headers: releaser });
      expect(lacking.status).toBe(403);
      expect((await problemOf(lacking)).detail).toBe(
        'API key "health-releaser" lacks the "read" scope this endpoint needs',
      );
    });
  });

  describe("authentication", () => {
    it("refuses a missing, malformed or unknown key with 401 and a challenge", async () => {
      const missing = await app.request("/v1/configs");
      expect(missing.status).toBe(401);
      expect(missing.headers.get("www-authenticate")).toContain("Bearer");
      expect((await problemOf(missing)).code).toBe("auth.missing");
      expect(
        (await problemOf(await app.request("/v1/configs", { headers: { authorization: "Basic abc" } }))).code,
      ).toBe("auth.malformed");
      const unknown = await app.request("/v1/configs", {
        headers: { authorization: "Bearer slw_0123456789ab_" + "x".repeat(43) },
      });
      expect((await problemOf(unknown)).code).toBe("auth.invalid_key");
    });

    it("issues scoped keys, enforces their scopes, and stops accepting a revoked key", async () => {
      const issued = await app.request("/v1/api-keys", {
        method: "POST",
        headers: { ...admin, "content-type": "application/json" },
        body: JSON.stringify({ name: "viewer", scopes: ["read"] }),
      });
      expect(issued.status).toBe(201);
      const { key, keyId } = (await issued.json()) as { key: string; keyId: string };
      const viewer = { authorization: `Bearer ${key}` };
      expect((await app.request("/v1/configs", { headers: viewer })).status).toBe(200);
      const forbidden = await putConfig(yamlBody(docs.staging), viewer);
      expect(forbidden.status).toBe(403);
      expect((await problemOf(forbidden)).detail).toBe('API key "viewer" lacks the "admin" scope this endpoint needs');

      const listed = (await (await app.request("/v1/api-keys", { headers: admin })).json()) as { items: object[] };
      expect(JSON.stringify(listed)).not.toContain(key);
      expect((await app.request(`/v1/api-keys/${keyId}`, { method: "DELETE", headers: admin })).status).toBe(204);
      expect((await app.request("/v1/configs", { headers: viewer })).status).toBe(401);
    });
  });

  describe("configs", () => {
    it("applies YAML documents, and applying them again changes nothing", async () => {
      const body = yamlBody(docs.staging, docs.production, docs.shop, docs.api);
      const first = await putConfig(body);
      expect(first.status).toBe(200);
      expect(await first.json()).toEqual({
        applied: [
          { kind: "runtime", name: "k8s-staging", version: 1 },
          { kind: "runtime", name: "k8s-production", version: 1 },
          { kind: "application", name: "shop", version: 1 },
          { kind: "service", name: "api", version: 1 },
        ],
        unchanged: [],
      });
      const before = (await store.read(streams.config())).length;
      const again = await putConfig(body);
      expect(((await again.json()) as { applied: unknown[]; unchanged: unknown[] }).applied).toEqual([]);
      expect((await store.read(streams.config())).length).toBe(before);
    });

    it("accepts JSON too, and returns each object with its version", async () => {
      const changed = structuredClone(docs.shop);
      changed.application.releaseChannels[0]!.constants = { replicas: 2 };
      const res = await app.request("/v1/configs", {
        method: "PUT",
        body: JSON.stringify([changed]),
        headers: { ...admin, "content-type": "application/json" },
      });
      expect(await res.json()).toEqual({ applied: [{ kind: "application", name: "shop", version: 2 }], unchanged: [] });
      const one = await app.request("/v1/configs/application/shop", { headers: admin });
      const shop = (await one.json()) as { spec: { releaseChannels: { preconditions: unknown[] }[] } };
      expect(shop).toMatchObject({
        kind: "application",
        name: "shop",
        version: 2,
        spec: { releaseChannels: [{ constants: { replicas: 2 } }, {}] },
      });
      // Preconditions come back as they were written, so what GET returns can be applied again.
      expect(shop.spec.releaseChannels[1]!.preconditions).toEqual([
        { releaseChannelStable: { releaseChannel: "staging", duration: "10m" } },
        { manualApproval: { minApprovers: 1 } },
      ]);
      const all = (await (await app.request("/v1/configs", { headers: admin })).json()) as {
        items: { kind: string; name: string }[];
      };
      expect(all.items.map((i) => `${i.kind}/${i.name}`).sort()).toEqual([
        "application/shop",
        "runtime/k8s-production",
        "runtime/k8s-staging",
        "service/api",
      ]);
      expect((await problemOf(await app.request("/v1/configs/service/nope", { headers: admin }))).code).toBe(
        "config.not_found",
      );
    });

    it("lists every validation error with its path and appends nothing", async () => {
      const before = (await store.read(streams.config())).length;
      const bad = structuredClone(docs.shop);
      bad.application.releaseChannels[1]!.runtimes = [{ runtime: "k8s-mars" }];
      const res = await putConfig(yamlBody(bad, { service: { name: "Bad Name", application: "shop" } }));
      expect(res.status).toBe(400);
      const p = await problemOf(res);
      expect(p.code).toBe("config.invalid");
      expect(p.errors).toEqual(
        expect.arrayContaining([
          { path: "documents[1].service.name", message: expect.stringContaining("must be lowercase letters") },
          { path: "documents[1].service", message: expect.stringContaining("must define what to deploy") },
        ]),
      );
      const crossObject = await problemOf(await putConfig(yamlBody(bad)));
      expect(crossObject.errors).toEqual([
        { path: "application.releaseChannels[1].runtimes[0].runtime", message: 'runtime "k8s-mars" does not exist' },
      ]);
      expect((await store.read(streams.config())).length).toBe(before);
    });

    it("names the line of a YAML syntax error", async () => {
      const p = await problemOf(await putConfig("runtime:\n  name: [unclosed\n"));
      expect(p.code).toBe("config.unparseable");
      expect(p.errors?.[0]?.message).toMatch(/^line \d+, column \d+: /);
    });

    it("refuses to delete what is still referenced", async () => {
      const p = await problemOf(
        await app.request("/v1/configs/runtime/k8s-staging", { method: "DELETE", headers: admin }),
      );
      expect(p.status).toBe(409);
      expect(p.code).toBe("config.in_use");
    });
  });

  describe("CI webhook", () => {
    it("creates a release from a signed body and answers 202 with its id", async () => {
      const res = await webhook(release);
      expect(res.status).toBe(202);
      const { releaseId, duplicate } = (await res.json()) as { releaseId: string; duplicate: boolean };
      expect(duplicate).toBe(false);
      const view = await app.request(`/v1/releases/${releaseId}`, { headers: admin });
      expect(await view.json()).toMatchObject({
        releaseId,
        status: "active",
        application: "shop",
        service: "api",
        params: { image: IMAGE },
        source: { commit: "abc123", branch: "main" },
        channels: [{ name: "staging" }, { name: "production" }],
      });
      const history = (await (await app.request(`/v1/releases/${releaseId}/events`, { headers: admin })).json()) as {
        items: { type: string; actor: object }[];
      };
      expect(history.items).toEqual([
        expect.objectContaining({ version: 1, type: "ReleaseCreated", actor: { kind: "ci", id: "ci-webhook" } }),
        expect.objectContaining({ version: 2, type: "PromotionStarted", data: { releaseId, channel: "staging" } }),
      ]);
    });

    it("returns the same release for a redelivery and appends nothing", async () => {
      // A build of its own: the same body signed in the same second is the same signature, spent already.
      const build = { ...release, source: { commit: "def456", branch: "main" } };
      const first = (await (await webhook(build, { "x-slipway-delivery": "delivery-42" })).json()) as {
        releaseId: string;
      };
      const again = await webhook(build, { "x-slipway-delivery": "delivery-42" });
      expect(again.status).toBe(202);
      expect(await again.json()).toEqual({ releaseId: first.releaseId, duplicate: true });
      expect((await store.read(streams.release(first.releaseId))).map((e) => e.type)).toEqual([
        "ReleaseCreated",
        "PromotionStarted",
      ]);
    });

    it("refuses forged and missing signatures without appending", async () => {
      const forged = await webhook(release, {}, "not-the-secret");
      expect(forged.status).toBe(401);
      expect((await problemOf(forged)).code).toBe("webhook.bad_signature");
      const unsigned = await app.request("/v1/webhooks/ci", {
        method: "POST",
        body: JSON.stringify(release),
        headers: { "content-type": "application/json" },
      });
      expect(unsigned.status).toBe(401);
      const tampered = JSON.stringify(release);
      const signed = signedWebhookHeaders(secrets.webhookSecret, tampered);
      const res = await app.request("/v1/webhooks/ci", {
        method: "POST",
        body: tampered.replace("1.4.2", "6.6.6"),
        headers: { "content-type": "application/json", ...signed },
      });
      expect(res.status).toBe(401);
      const body = await res.text();
      expect(body).not.toContain(secrets.webhookSecret);
      expect(body).not.toContain(signed["x-slipway-signature-256"]!.slice("sha256=".length));
      // The old scheme, a signature over the body alone, is refused.
      const bodyOnly = await app.request("/v1/webhooks/ci", {
        method: "POST",
        body: tampered,
        headers: {
          "content-type": "application/json",
          "x-slipway-timestamp": signed["x-slipway-timestamp"]!,
          "x-slipway-signature-256": signBody(secrets.webhookSecret, tampered),
        },
      });
      expect(bodyOnly.status).toBe(401);
      expect((await problemOf(bodyOnly)).code).toBe("webhook.bad_signature");
    });

    it("names unknown applications and services, missing and mistyped params", async () => {
      const unknownApp = await problemOf(await webhook({ ...release, application: "bank" }));
      expect(unknownApp).toMatchObject({
        status: 404,
        code: "application.not_found",
        detail: 'application "bank" does not exist',
      });
      const unknownService = await problemOf(await webhook({ ...release, service: "web" }));
      expect(unknownService).toMatchObject({ status: 404, code: "service.not_found" });
      const missing = await problemOf(await webhook({ ...release, params: {} }));
      expect(missing).toMatchObject({
        status: 400,
        code: "release.invalid_params",
        errors: [{ path: "params.image", message: "params.image is required" }],
      });
      const mistyped = await problemOf(await webhook({ ...release, params: { image: 42 } }));
      expect(mistyped.errors?.[0]).toEqual({
        path: "params.image",
        message: "params.image must be a docker image reference (a string)",
      });
      const malformed = await problemOf(await webhook({ application: "shop" }));
      expect(malformed).toMatchObject({
        status: 400,
        code: "request.invalid",
        errors: [{ path: "service", message: "service is required" }],
      });
    });

    it("accepts a release-scoped API key instead of a signature, and refuses other scopes", async () => {
      const issue = async (name: string, scopes: string[]) =>
        (
          (await (
            await app.request("/v1/api-keys", {
              method: "POST",
              headers: { ...admin, "content-type": "application/json" },
              body: JSON.stringify({ name, scopes }),
            })
          ).json()) as { key: string }
        ).key;
      const ci = await issue("jenkins", ["release"]);
      const approver = await issue("approver", ["approve"]);
      const send = (key: string) =>
        app.request("/v1/webhooks/ci", {
          method: "POST",
          body: JSON.stringify(release),
          headers: { "content-type": "application/json", authorization: `Bearer ${key}` },
        });
      expect((await send(ci)).status).toBe(202);
      expect((await send(approver)).status).toBe(403);
    });
  });

  describe("Slack callback", () => {
    const form = new URLSearchParams({
      payload: JSON.stringify({
        type: "block_actions",
        user: { id: "U1" },
        actions: [
          {
            action_id: "slipway_approve",
            value: JSON.stringify({ releaseId: "rel-x", channel: "production", approval: "approval" }),
          },
        ],
      }),
    }).toString();
    const send = (timestamp: string, signature: string) =>
      app.request("/v1/callbacks/slack", {
        method: "POST",
        body: form,
        headers: {
          "content-type": "application/x-www-form-urlencoded",
          "x-slack-request-timestamp": timestamp,
          "x-slack-signature": signature,
        },
      });

    it("refuses a stale timestamp even with a valid signature, and a forged signature", async () => {
      const stale = String(Math.floor(Date.now() / 1000) - 6 * 60);
      const res = await send(stale, slackSignature(secrets.slackSigningSecret, stale, form));
      expect(res.status).toBe(401);
      expect((await problemOf(res)).detail).toContain("older than five minutes");
      const now = String(Math.floor(Date.now() / 1000));
      expect((await problemOf(await send(now, slackSignature("not-the-secret", now, form)))).code).toBe(
        "slack.bad_signature",
      );
    });

    it("answers a signed click on an unknown release with a message for Slack, appending nothing", async () => {
      const now = String(Math.floor(Date.now() / 1000));
      const res = await send(now, slackSignature(secrets.slackSigningSecret, now, form));
      expect(res.status).toBe(200);
      // Shown only to the person who clicked: the message itself stays as it is.
      expect(await res.json()).toEqual({
        replace_original: false,
        response_type: "ephemeral",
        text: ":warning: release rel-x does not exist",
      });
      expect(await store.read(streams.release("rel-x"))).toEqual([]);
    });
  });

  it("serves an OpenAPI document generated from the schemas", async () => {
    const doc = (await (await app.request("/openapi.json")).json()) as {
      openapi: string;
      paths: Record<string, object>;
    };
    expect(doc.openapi).toBe("3.1.0");
    expect(Object.keys(doc.paths)).toEqual(
      expect.arrayContaining([
        "/v1/configs",
        "/v1/configs/{kind}/{name}",
        "/v1/webhooks/ci",
        "/v1/releases/{id}",
        "/v1/releases/{id}/events",
        "/v1/api-keys",
      ]),
    );
  });

  it("answers unknown routes with a problem, and never logs or returns a secret", async () => {
    expect((await problemOf(await app.request("/v1/nope", { headers: admin }))).code).toBe("route.not_found");
    expect(logs.entries()).toContainEqual(
      expect.objectContaining({
        level: "INFO",
        message: "GET /v1/nope → 404 route.not_found: no endpoint GET /v1/nope",
      }),
    );
    expect(logs.lines.join("\n")).not.toContain(secrets.adminApiKey);
  });
});
