import { describe, expect, it } from "vitest";
import { documentClient } from "../../functions/adapters/dynamo.js";
import { EventStore } from "../../functions/adapters/event-store.js";
import { ReadModels } from "../../functions/adapters/read-models.js";
import { SecretStore } from "../../functions/adapters/secret-store.js";
import { createHttpApp } from "../../functions/http.js";
import { routeAccess } from "../../functions/routes/access.js";
import type { ApiDeps } from "../../functions/services/deps.js";

// Nothing here reaches storage: every request is refused (or served) before a handler reads anything.
const db = documentClient({
  endpoint: "http://127.0.0.1:9",
  region: "us-east-1",
  credentials: { accessKeyId: "x", secretAccessKey: "x" },
});
const deps: ApiDeps = {
  store: new EventStore(db, "unused"),
  readModels: new ReadModels(db, "unused"),
  secretStore: new SecretStore(db, "unused"),
  secrets: { adminApiKey: "admin-key", webhookSecret: "webhook-secret", slackSigningSecret: "slack-secret" },
  checks: {},
};
const app = createHttpApp(deps);
const routes = routeAccess(app);
const concrete = (path: string) => path.replace(/:[^/]+/g, "x");

describe("every route declares who may call it", () => {
  it("has an access declaration on every registered route", () => {
    expect(routes.length).toBeGreaterThan(15);
    expect(routes.filter((r) => r.access === undefined).map((r) => `${r.method} ${r.path}`)).toEqual([]);
  });

  it("finds a route added without one", () => {
    const other = createHttpApp(deps);
    other.get("/v1/forgotten", (c) => c.text("open"));
    expect(routeAccess(other).filter((r) => r.access === undefined)).toEqual([
      { method: "GET", path: "/v1/forgotten" },
    ]);
  });

  it("refuses every non-public route without credentials, before reading its input", async () => {
    const answers = await Promise.all(
      routes
        .filter((r) => r.access !== "public")
        .map(async (r) => {
          const res = await app.request(concrete(r.path), {
            method: r.method,
            headers: { "content-type": "application/json" },
            body: r.method === "GET" ? null : "{}",
          });
          if (r.access === "page") return `${r.method} ${r.path} ${res.status} ${res.headers.get("location")}`;
          const body = (await res.json()) as { code: string };
          return `${r.method} ${r.path} ${res.status} ${body.code}`;
        }),
    );
    for (const answer of answers)
      expect(answer).toMatch(/ 401 (auth\.missing|slack\.bad_signature)$| 303 \/login\?next=\S+$/);
    // Pages send a browser to the sign-in form, which brings it back.
    expect(answers.filter((a) => a.includes(" 303 "))).toContain("GET /apps/:app 303 /login?next=%2Fapps%2Fx");
  });

  it("says what is wrong with an Authorization header of another shape, and asks for a bearer token", async () => {
    const res = await app.request("/v1/api-keys", { headers: { authorization: "Basic abc" } });
    expect(res.status).toBe(401);
    expect(res.headers.get("www-authenticate")).toBe('Bearer realm="slipway"');
    expect(((await res.json()) as { code: string }).code).toBe("auth.malformed");
  });

  it("keeps only health, the API description and the dashboard's sign-in and static files public", () => {
    expect(
      routes
        .filter((r) => r.access === "public")
        .map((r) => `${r.method} ${r.path}`)
        .sort(),
    ).toEqual([
      "GET /assets/:name",
      "GET /docs",
      "GET /healthz",
      "GET /login",
      "GET /openapi.json",
      "POST /login",
      "POST /logout",
    ]);
  });

  it("states each route's access in the OpenAPI document", async () => {
    const doc = (await (await app.request("/openapi.json")).json()) as {
      paths: Record<string, Record<string, { "x-slipway-access"?: string }>>;
    };
    const documented = Object.entries(doc.paths).flatMap(([path, ops]) =>
      Object.entries(ops).map(
        ([method, op]) => `${method.toUpperCase()} ${path.replace(/\{([^}]+)\}/g, ":$1")} ${op["x-slipway-access"]}`,
      ),
    );
    // The API is under /v1; health, the description itself and the dashboard's HTML pages are not part of it.
    const declared = routes.filter((r) => r.path.startsWith("/v1/")).map((r) => `${r.method} ${r.path} ${r.access}`);
    expect(documented.sort()).toEqual(declared.sort());
  });
});
