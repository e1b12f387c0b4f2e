import { createRoute, type OpenAPIHono } from "@hono/zod-openapi";
import * as z from "zod";
import { SCOPES } from "../../core/index.js";
import { issueApiKey, listApiKeys, revokeApiKey } from "../services/access.js";
import type { ApiDeps } from "../services/deps.js";
import { withAccess } from "./access.js";
import { metadataOf, type ApiEnv } from "./context.js";
import { problemResponses } from "./problem.js";

const KeyView = z.object({
  keyId: z.string(),
  name: z.string(),
  scopes: z.array(z.enum(SCOPES)),
  revoked: z.boolean(),
});

export function registerApiKeyRoutes(app: OpenAPIHono<ApiEnv>, deps: ApiDeps): void {
  app.openapi(
    createRoute(
      withAccess(deps, "admin", {
        method: "post",
        path: "/v1/api-keys",
        summary: "Issue an API key",
        description: "The key is in this response only; Slipway keeps its SHA-256.",
        request: {
          body: {
            required: true,
            content: {
              "application/json": {
                schema: z.strictObject({
                  // A key's name is its holder's identity as an approver; `slack:` names Slack users.
                  name: z
                    .string()
                    .min(1)
                    .max(128)
                    .refine((n) => !n.startsWith("slack:"), {
                      error: "must not start with slack: (that names Slack users as approvers)",
                    }),
                  scopes: z.array(z.enum(SCOPES)).min(1),
                }),
              },
            },
          },
        },
        responses: {
          201: {
            description: "the new key",
            content: { "application/json": { schema: KeyView.extend({ key: z.string() }) } },
          },
          ...problemResponses(400, 401, 403, 409),
        },
      }),
    ),
    async (c) => {
      const { name, scopes } = c.req.valid("json");
      return c.json(await issueApiKey(deps, name, scopes, metadataOf(c, deps)), 201);
    },
  );
  app.openapi(
    createRoute(
      withAccess(deps, "admin", {
        method: "get",
        path: "/v1/api-keys",
        summary: "List API keys (never the keys themselves)",
        responses: {
          200: {
            description: "the keys",
            content: { "application/json": { schema: z.object({ items: z.array(KeyView) }) } },
          },
          ...problemResponses(401, 403),
        },
      }),
    ),
    async (c) => c.json({ items: await listApiKeys(deps) }, 200),
  );
  app.openapi(
    createRoute(
      withAccess(deps, "admin", {
        method: "delete",
        path: "/v1/api-keys/{keyId}",
        summary: "Revoke an API key",
        request: { params: z.object({ keyId: z.string().regex(/^[a-f0-9]{12}$/) }) },
        responses: { 204: { description: "revoked" }, ...problemResponses(400, 401, 403, 404) },
      }),
    ),
    async (c) => {
      await revokeApiKey(deps, c.req.valid("param").keyId, metadataOf(c, deps));
      return c.body(null, 204);
    },
  );
}
