import { createRoute, type OpenAPIHono } from "@hono/zod-openapi";
import * as z from "zod";
import { Name } from "../../core/index.js";
import type { ApiDeps } from "../services/deps.js";
import { deleteSecret, listSecrets, setSecret } from "../services/secrets.js";
import { withAccess } from "./access.js";
import { metadataOf, type ApiEnv } from "./context.js";
import { problemResponses } from "./problem.js";

const SecretView = z.object({ name: z.string(), updatedAt: z.string(), updatedBy: z.string() });
const SecretName = z.object({ name: Name });

/** Named secrets: set and deleted by admins, listed without their values, never answered. */
export function registerSecretRoutes(app: OpenAPIHono<ApiEnv>, deps: ApiDeps): void {
  app.openapi(
    createRoute(
      withAccess(deps, "admin", {
        method: "put",
        path: "/v1/secrets/{name}",
        summary: "Set a named secret (an outbound webhook's signing key)",
        description: "The value is stored apart from the event log and is never answered or logged.",
        request: {
          params: SecretName,
          body: {
            required: true,
            content: {
              "application/json": {
                schema: z.strictObject({
                  value: z
                    .string()
                    .min(16, { error: "must be at least 16 characters" })
                    .max(4096, { error: "must be at most 4096 characters" }),
                }),
              },
            },
          },
        },
        responses: {
          200: { description: "set", content: { "application/json": { schema: SecretView } } },
          ...problemResponses(400, 401, 403),
        },
      }),
    ),
    async (c) =>
      c.json(await setSecret(deps, c.req.valid("param").name, c.req.valid("json").value, metadataOf(c, deps)), 200),
  );
  app.openapi(
    createRoute(
      withAccess(deps, "admin", {
        method: "get",
        path: "/v1/secrets",
        summary: "List named secrets (never their values)",
        responses: {
          200: {
            description: "the secrets",
            content: { "application/json": { schema: z.object({ items: z.array(SecretView) }) } },
          },
          ...problemResponses(401, 403),
        },
      }),
    ),
    async (c) => c.json({ items: await listSecrets(deps) }, 200),
  );
  app.openapi(
    createRoute(
      withAccess(deps, "admin", {
        method: "delete",
        path: "/v1/secrets/{name}",
        summary: "Delete a named secret",
        request: { params: SecretName },
        responses: { 204: { description: "deleted" }, ...problemResponses(400, 401, 403, 404) },
      }),
    ),
    async (c) => {
      await deleteSecret(deps, c.req.valid("param").name, metadataOf(c, deps));
      return c.body(null, 204);
    },
  );
}
