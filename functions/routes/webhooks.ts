import { createRoute, type OpenAPIHono } from "@hono/zod-openapi";
import { bodyLimit } from "hono/body-limit";
import * as z from "zod";
import { ReleaseSource } from "../../events/index.js";
import type { ApiDeps } from "../services/deps.js";
import { createRelease } from "../services/releases.js";
import { withAccess } from "./access.js";
import { metadataOf, type ApiEnv } from "./context.js";
import { problem, problemResponses } from "./problem.js";

const MAX_WEBHOOK_BYTES = 256 * 1024;
const DELIVERY_PATTERN = /^[A-Za-z0-9._:-]{1,128}$/;

export const CiWebhookBody = z.strictObject({
  application: z.string().min(1).max(63),
  service: z.string().min(1).max(63),
  params: z.record(z.string(), z.unknown()).default({}),
  source: ReleaseSource.strict().optional(),
  /**
   * Who made the change: an API key's name or a Slack identity (`slack:U123ABC`). Approvals by that
   * identity do not count unless the gate sets allowSelfApproval.
   */
  author: z.string().min(1).max(256).optional(),
});

export function registerWebhookRoutes(app: OpenAPIHono<ApiEnv>, deps: ApiDeps): void {
  app.openapi(
    createRoute(
      withAccess(deps, "ci", {
        method: "post",
        path: "/v1/webhooks/ci",
        summary: "Create a release from CI",
        description:
          "Signed with `X-Slipway-Timestamp: <Unix seconds>` (within five minutes of the server's clock) and `X-Slipway-Signature-256: sha256=<hex HMAC-SHA256 of '<timestamp>.<raw body>' with the webhook secret>`, or authorized by a `release`-scoped API key. `X-Slipway-Delivery` makes redeliveries idempotent: the same release comes back and nothing is appended; the same id with another body is `409 delivery.conflict`. A signature is accepted for one delivery: presented again under another delivery id, or none, it is `409 webhook.replayed`.",
        middleware: [
          bodyLimit({
            maxSize: MAX_WEBHOOK_BYTES,
            onError: (c) =>
              problem(c, 413, "request.too_large", `webhook bodies are limited to ${MAX_WEBHOOK_BYTES} bytes`),
          }),
        ],
        request: {
          headers: z.object({
            "x-slipway-delivery": z.string().regex(DELIVERY_PATTERN).optional(),
            // Checked by the access check, before this schema; listed for the OpenAPI document.
            "x-slipway-timestamp": z.string().optional(),
            "x-slipway-signature-256": z.string().optional(),
          }),
          body: { required: true, content: { "application/json": { schema: CiWebhookBody } } },
        },
        responses: {
          202: {
            description: "the release was created (or, for a redelivery, had been)",
            content: { "application/json": { schema: z.object({ releaseId: z.string(), duplicate: z.boolean() }) } },
          },
          ...problemResponses(400, 401, 403, 404, 409, 413),
        },
      }),
    ),
    async (c) => {
      const { application, service, params, source, author } = c.req.valid("json");
      const id = c.req.valid("header")["x-slipway-delivery"];
      const signature = c.get("webhookSignature");
      return c.json(
        await createRelease(
          deps,
          { application, service, params, ...(source ? { source } : {}), ...(author ? { author } : {}) },
          { ...(id ? { id } : {}), ...(signature ? { signature } : {}) },
          metadataOf(c, deps),
        ),
        202,
      );
    },
  );
}
