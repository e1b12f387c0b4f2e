import { createRoute, type OpenAPIHono } from "@hono/zod-openapi";
import { z } from "zod";
import { accessDecider, SCOPES, streams } from "../../core/index.js";
import { handleCommand, readState } from "../adapters/command-handler.js";
import { newApiKey, requireScope, sha256 } from "./auth.js";
import { metadataOf, type ApiDeps, type ApiEnv } from "./context.js";
import { problemResponses } from "./problem.js";

const KeyView = z.object({ keyId: z.string(), name: z.string(), scopes: z.array(z.enum(SCOPES)), revoked: z.boolean() });

export function registerApiKeyRoutes(app: OpenAPIHono<ApiEnv>, deps: ApiDeps): void {
  app.use("/v1/api-keys", requireScope(deps, "admin"));
  app.use("/v1/api-keys/*", requireScope(deps, "admin"));
  app.openapi(
    createRoute({
      method: "post",
      path: "/v1/api-keys",
      summary: "Issue an API key",
      description: "The key is in this response only; Slipway keeps its SHA-256.",
      request: { body: { required: true, content: { "application/json": { schema: z.strictObject({ name: z.string().min(1).max(128), scopes: z.array(z.enum(SCOPES)).min(1) }) } } } },
      responses: { 201: { description: "the new key", content: { "application/json": { schema: KeyView.extend({ key: z.string() }) } } }, ...problemResponses(400, 401, 403, 409) },
    }),
    async (c) => {
      const { name, scopes } = c.req.valid("json");
      const { keyId, key } = newApiKey();
      await handleCommand(deps.store, accessDecider, streams.apiKeys(), { type: "IssueApiKey", keyId, name, scopes, keyHash: sha256(key) }, metadataOf(c, deps));
      return c.json({ keyId, name, scopes: [...new Set(scopes)], revoked: false, key }, 201);
    },
  );
  app.openapi(
    createRoute({ method: "get", path: "/v1/api-keys", summary: "List API keys (never the keys themselves)", responses: { 200: { description: "the keys", content: { "application/json": { schema: z.object({ items: z.array(KeyView) }) } } }, ...problemResponses(401, 403) } }),
    async (c) => {
      const state = (await readState(deps.store, accessDecider, streams.apiKeys())).state;
      return c.json({ items: Object.values(state.keys).map(({ keyId, name, scopes, revoked }) => ({ keyId, name, scopes, revoked })) }, 200);
    },
  );
  app.openapi(
    createRoute({ method: "delete", path: "/v1/api-keys/{keyId}", summary: "Revoke an API key", request: { params: z.object({ keyId: z.string().regex(/^[a-f0-9]{12}$/) }) }, responses: { 204: { description: "revoked" }, ...problemResponses(400, 401, 403, 404) } }),
    async (c) => {
      await handleCommand(deps.store, accessDecider, streams.apiKeys(), { type: "RevokeApiKey", keyId: c.req.valid("param").keyId }, metadataOf(c, deps));
      return c.body(null, 204);
    },
  );
}
