import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { feedPosition, streams, type FeedEntry } from "../../core/index.js";
import type { EventStore } from "../../functions/adapters/event-store.js";
import type { ReadModels } from "../../functions/adapters/read-models.js";
import { createHttpApp } from "../../functions/http.js";
import { signSession } from "../../functions/services/credentials.js";
import { decodeCursor } from "../../functions/services/cursor.js";
import type { ApiDeps } from "../../functions/services/deps.js";
import { SESSION_TTL_S } from "../../functions/services/sessions.js";
import { isolatedApiStorage } from "../support/dynamo.js";

/**
 * The dashboard's sign-in and session cookie, against real DynamoDB Local: a key becomes a signed
 * cookie that names it by id; pages and the API accept the cookie; a state-changing request with
 * it needs this origin and the session's CSRF token; a revoked key ends its sessions.
 */
const secrets = {
  adminApiKey: "admin-key-for-session-tests-0123456789",
  webhookSecret: "webhook-secret",
  slackSigningSecret: "slack-secret",
};
const ORIGIN = "http://slipway.test";
let store: EventStore;
let readModels: ReadModels;
let drop: () => Promise<void>;
let app: ReturnType<typeof createHttpApp>;
let now = new Date("2026-12-03T10:00:00Z");

beforeAll(async () => {
  const storage = await isolatedApiStorage();
  ({ store, readModels, drop } = storage);
  const deps: ApiDeps = {
    store,
    readModels,
    secretStore: storage.secretStore,
    secrets,
    checks: {},
    now: () => now,
  };
  app = createHttpApp(deps);
});
afterAll(() => drop());

const request = (path: string, init: RequestInit = {}) => app.request(`${ORIGIN}${path}`, init);

async function issueKey(name: string, scopes: string[]): Promise<{ key: string; keyId: string }> {
  const res = await request("/v1/api-keys", {
    method: "POST",
    headers: { authorization: `Bearer ${secrets.adminApiKey}`, "content-type": "application/json" },
    body: JSON.stringify({ name, scopes }),
  });
  expect(res.status).toBe(201);
  return (await res.json()) as { key: string; keyId: string };
}

/** Signs in through the form; the session cookie and the page's CSRF token. */
async function signIn(key: string): Promise<{ cookie: string; csrf: string; setCookie: string }> {
  const res = await request("/login", {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded", origin: ORIGIN },
    body: new URLSearchParams({ key, next: "/runtimes" }).toString(),
  });
  expect(res.status).toBe(303);
  expect(res.headers.get("location")).toBe("/runtimes");
  const setCookie = res.headers.get("set-cookie") ?? "";
  const cookie = /slipway_session=([^;]+)/.exec(setCookie)![1]!;
  const page = await (await request("/runtimes", { headers: { cookie: `slipway_session=${cookie}` } })).text();
  const csrf = /<meta name="slipway-csrf" content="([^"]+)"/.exec(page)![1]!;
  return { cookie, csrf, setCookie };
}

const logSize = async () => (await store.read(streams.apiKeys())).length;

describe("signing in to the dashboard", () => {
  it("exchanges a key for an HttpOnly, SameSite=Strict cookie that does not hold the key", async () => {
    const { key } = await issueKey("alice", ["read", "approve"]);
    const { cookie, setCookie } = await signIn(key);
    expect(setCookie).toMatch(/HttpOnly/i);
    expect(setCookie).toMatch(/SameSite=Strict/i);
    expect(setCookie).toMatch(/Secure/i); // not localhost
    expect(setCookie).toMatch(new RegExp(`Max-Age=${SESSION_TTL_S}`));
    expect(cookie).not.toContain(key);
    expect(Buffer.from(cookie.split(".")[0]!, "base64url").toString()).not.toContain(key.slice(4));
  });

  it("says why a key is refused, on the form, and sets no cookie", async () => {
    const res = await request("/login", {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded", origin: ORIGIN },
      body: "key=slw_000000000000_notakeynotakeynotakeynotakeynotakeynotakeyno",
    });
    expect(res.status).toBe(401);
    expect(res.headers.get("set-cookie")).toBeNull();
    expect(await res.text()).toContain("the API key is not valid");
  });

  it("refuses a key that cannot read", async () => {
    const { key } = await issueKey("ci-only", ["release"]);
    const res = await request("/login", {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded", origin: ORIGIN },
      body: new URLSearchParams({ key }).toString(),
    });
    expect(res.status).toBe(403);
    expect(await res.text()).toContain("cannot read, so it cannot sign in");
  });

  it("refuses a sign-in posted from another site", async () => {
    const res = await request("/login", {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded", origin: "https://evil.example" },
      body: new URLSearchParams({ key: secrets.adminApiKey }).toString(),
    });
    expect(res.status).toBe(403);
    expect(res.headers.get("set-cookie")).toBeNull();
  });

  it("goes back only to a path of this site after signing in", async () => {
    for (const next of ["https://evil.example/", "//evil.example/x", "/\\evil.example"]) {
      const res = await request("/login", {
        method: "POST",
        headers: { "content-type": "application/x-www-form-urlencoded", origin: ORIGIN },
        body: new URLSearchParams({ key: secrets.adminApiKey, next }).toString(),
      });
      expect(res.headers.get("location"), next).toBe("/");
    }
  });

  it("sends a browser without a session to the sign-in form, and back", async () => {
    const res = await request("/apps/shop?x=1");
    expect(res.status).toBe(303);
    expect(res.headers.get("location")).toBe("/login?next=%2Fapps%2Fshop%3Fx%3D1");
    const form = await (await request("/login?next=%2Fapps%2Fshop")).text();
    expect(form).toContain('type="password"');
    expect(form).toContain('value="/apps/shop"');
  });
});

describe("a session", () => {
  it("reads pages and the API with the cookie alone", async () => {
    const { cookie } = await signIn(secrets.adminApiKey);
    const page = await request("/runtimes", { headers: { cookie: `slipway_session=${cookie}` } });
    expect(page.status).toBe(200);
    expect(page.headers.get("content-security-policy")).toContain("script-src 'self'");
    expect(page.headers.get("cache-control")).toBe("no-store");
    const api = await request("/v1/api-keys", { headers: { cookie: `slipway_session=${cookie}` } });
    expect(api.status).toBe(200);
  });

  it("changes something only from this origin and with its CSRF token", async () => {
    const { cookie, csrf } = await signIn(secrets.adminApiKey);
    const post = (headers: Record<string, string>) =>
      request("/v1/api-keys", {
        method: "POST",
        headers: { cookie: `slipway_session=${cookie}`, "content-type": "application/json", ...headers },
        body: JSON.stringify({ name: `made-by-session-${Math.random().toString(36).slice(2)}`, scopes: ["read"] }),
      });
    const before = await logSize();
    const noToken = await post({ origin: ORIGIN });
    expect(noToken.status).toBe(403);
    expect(((await noToken.json()) as { code: string }).code).toBe("auth.csrf");
    const wrongToken = await post({ origin: ORIGIN, "x-slipway-csrf": `${csrf.slice(0, -2)}xx` });
    expect(((await wrongToken.json()) as { code: string }).code).toBe("auth.csrf");
    const crossSite = await post({ "sec-fetch-site": "cross-site", "x-slipway-csrf": csrf });
    expect(((await crossSite.json()) as { code: string }).code).toBe("auth.cross_origin");
    const foreignOrigin = await post({ origin: "https://evil.example", "x-slipway-csrf": csrf });
    expect(((await foreignOrigin.json()) as { code: string }).code).toBe("auth.cross_origin");
    const noOrigin = await post({ "x-slipway-csrf": csrf });
    expect(((await noOrigin.json()) as { code: string }).code).toBe("auth.cross_origin");
    expect(await logSize()).toBe(before);

    const good = await post({ "sec-fetch-site": "same-origin", "x-slipway-csrf": csrf });
    expect(good.status).toBe(201);
    expect(await logSize()).toBe(before + 1);
  });

  it("has only its key's scopes", async () => {
    const { key } = await issueKey("viewer", ["read"]);
    const { cookie, csrf } = await signIn(key);
    const res = await request("/v1/api-keys", {
      method: "POST",
      headers: {
        cookie: `slipway_session=${cookie}`,
        "content-type": "application/json",
        origin: ORIGIN,
        "x-slipway-csrf": csrf,
      },
      body: JSON.stringify({ name: "sneaky", scopes: ["admin"] }),
    });
    expect(res.status).toBe(403);
    expect(((await res.json()) as { code: string }).code).toBe("auth.scope");
  });

  it("ends when its key is revoked", async () => {
    const { key, keyId } = await issueKey("leaver", ["read"]);
    const { cookie } = await signIn(key);
    expect((await request("/v1/runtimes", { headers: { cookie: `slipway_session=${cookie}` } })).status).toBe(200);
    const revoke = await request(`/v1/api-keys/${keyId}`, {
      method: "DELETE",
      headers: { authorization: `Bearer ${secrets.adminApiKey}` },
    });
    expect(revoke.status).toBeLessThan(300);
    const after = await request("/v1/runtimes", { headers: { cookie: `slipway_session=${cookie}` } });
    expect(after.status).toBe(401);
    expect(((await after.json()) as { code: string }).code).toBe("auth.session");
    const page = await request("/runtimes", { headers: { cookie: `slipway_session=${cookie}` } });
    expect(page.status).toBe(303);
  });

  it("ends when it expires, and a forged or tampered cookie is no session", async () => {
    const { cookie } = await signIn(secrets.adminApiKey);
    const read = (c: string) => request("/v1/runtimes", { headers: { cookie: `slipway_session=${c}` } });
    const [body, mac] = cookie.split(".") as [string, string];
    const claims = JSON.parse(Buffer.from(body, "base64url").toString()) as { k: string; e: number; n: string };
    const longer = Buffer.from(JSON.stringify({ ...claims, e: claims.e + 86_400 })).toString("base64url");
    expect((await read(`${longer}.${mac}`)).status).toBe(401);
    const forged = signSession("not-the-server-secret", { key: "admin", expires: claims.e, nonce: "n" });
    expect((await read(forged)).status).toBe(401);
    expect((await read("garbage")).status).toBe(401);

    const saved = now;
    now = new Date(now.getTime() + (SESSION_TTL_S + 1) * 1000);
    try {
      const expired = await read(cookie);
      expect(expired.status).toBe(401);
      expect(((await expired.json()) as { code: string }).code).toBe("auth.session");
    } finally {
      now = saved;
    }
  });

  it("prefers a presented API key to the cookie", async () => {
    const { cookie } = await signIn(secrets.adminApiKey);
    const res = await request("/v1/api-keys", {
      headers: { cookie: `slipway_session=${cookie}`, authorization: "Bearer slw_000000000000_wrong" },
    });
    expect(res.status).toBe(401);
    expect(((await res.json()) as { code: string }).code).toBe("auth.invalid_key");
  });

  it("signs out from this origin only", async () => {
    const foreign = await request("/logout", { method: "POST", headers: { origin: "https://evil.example" } });
    expect(foreign.status).toBe(403);
    const res = await request("/logout", { method: "POST", headers: { origin: ORIGIN } });
    expect(res.status).toBe(303);
    expect(res.headers.get("set-cookie")).toMatch(/slipway_session=;.*Max-Age=0/i);
  });
});

describe("a page's live stream", () => {
  /** A feed entry, as the projector writes one, for an event at `at` about `application`. */
  const entry = (application: string, at: Date, version: number): FeedEntry => {
    const e = { occurredAt: at.toISOString(), streamId: `channel#${application}/staging`, version };
    return {
      position: feedPosition(e),
      ...e,
      type: "ChannelPaused",
      actor: { kind: "user", id: "alice" },
      data: { application, channel: "staging" },
      application,
    };
  };

  /** Reads the stream until its first `change` (or until it ends): the event's id, or undefined. */
  async function firstChange(query: string, headers: Record<string, string> = {}): Promise<string | undefined> {
    const res = await request(`/ui/live?${query}`, {
      headers: { authorization: `Bearer ${secrets.adminApiKey}`, ...headers },
    });
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toContain("text/event-stream");
    const text = await res.text(); // the stream ends after its first change
    return text.includes("event: change\n") ? /^id: (\S+)$/m.exec(text)?.[1] : undefined;
  }

  it("tells a change to what the page follows, from the instant the page was rendered", async () => {
    const rendered = new Date();
    now = new Date(rendered.getTime() + 500);
    try {
      await readModels.feed.put([
        entry("other", new Date(rendered.getTime() + 100), 1),
        entry("live-a", new Date(rendered.getTime() + 200), 1),
      ]);
      const id = await firstChange(`application=live-a&since=${encodeURIComponent(rendered.toISOString())}`);
      // The other application's change, earlier, is not told.
      expect(decodeCursor("events", id!)?.after).toContain("channel#live-a/staging#0000000001");
      // Resumed after that change, the next stream tells the next one, not the same again.
      await readModels.feed.put([entry("live-a", new Date(rendered.getTime() + 300), 2)]);
      const next = await firstChange("application=live-a", { "last-event-id": id! });
      expect(next).toBeDefined();
      expect(decodeCursor("events", next!)?.after).toContain("channel#live-a/staging#0000000002");
    } finally {
      now = new Date("2026-12-03T10:00:00Z");
    }
  });
});

describe("the dashboard's static files and the API reference", () => {
  it("serves /docs with Swagger UI from Slipway itself, no CDN", async () => {
    const res = await request("/docs");
    expect(res.status).toBe(200);
    const page = await res.text();
    const scripts = [...page.matchAll(/<script src="([^"]+)"/g)].map((m) => m[1]!);
    expect(scripts.some((s) => s.startsWith("/assets/swagger-ui-bundle.js?v="))).toBe(true);
    expect(page).not.toMatch(/https?:\/\//);
    for (const src of scripts) {
      const js = await request(src);
      expect(js.status, src).toBe(200);
      expect(js.headers.get("content-type")).toContain("text/javascript");
    }
  });

  it("serves an asset gzipped and for ever by its versioned URL, and answers 304 to its ETag", async () => {
    const page = await (await request("/docs")).text();
    const src = /<script src="(\/assets\/docs\.js\?v=[^"]+)"/.exec(page)![1]!;
    const res = await request(src, { headers: { "accept-encoding": "gzip" } });
    expect(res.headers.get("content-encoding")).toBe("gzip");
    expect(res.headers.get("cache-control")).toContain("immutable");
    const etag = res.headers.get("etag")!;
    expect((await request(src, { headers: { "if-none-match": etag } })).status).toBe(304);
    // Without the current version the browser must ask again.
    expect((await request("/assets/docs.js")).headers.get("cache-control")).toContain("must-revalidate");
    expect((await request("/assets/nope.js")).status).toBe(404);
    expect((await request("/assets/..%2Fpackage.json")).status).toBe(404);
  });
});
