import { createHmac, randomBytes } from "node:crypto";
import { createRoute, type OpenAPIHono } from "@hono/zod-openapi";
import { bodyLimit } from "hono/body-limit";
import type { MiddlewareHandler } from "hono";
import { z } from "zod";
import { ReleaseSource } from "../../events/index.js";
import { getConfig, notFound, releaseDecider, streams } from "../../core/index.js";
import { handleCommand } from "../adapters/command-handler.js";
import { readConfig } from "../adapters/promoter.js";
import { requireScope, safeEqual } from "./auth.js";
import { metadataOf, type ApiDeps, type ApiEnv } from "./context.js";
import { problem, problemResponses } from "./problem.js";

const MAX_WEBHOOK_BYTES = 256 * 1024;
const DELIVERY_PATTERN = /^[A-Za-z0-9._:-]{1,128}$/;

export const CiWebhookBody = z.strictObject({
  application: z.string().min(1).max(63),
  service: z.string().min(1).max(63),
  params: z.record(z.string(), z.unknown()).default({}),
  source: ReleaseSource.strict().optional(),
});

/** `sha256=<hex>` over the raw body, as GitHub's X-Hub-Signature-256. */
export function signBody(secret: string, body: string): string {
  return `sha256=${createHmac("sha256", secret).update(body).digest("hex")}`;
}

/** Release ids sort by creation time: a millisecond timestamp, then randomness. */
export function newReleaseId(now: Date): string {
  return `rel-${now.getTime().toString(36).padStart(9, "0")}${randomBytes(5).toString("hex")}`;
}

/**
 * The CI webhook is signed, not keyed: a valid `X-Slipway-Signature-256` proves CI sent this exact
 * body. A `release`-scoped API key is accepted instead, for CI systems that cannot sign.
 */
function signedOrKeyed(deps: ApiDeps): MiddlewareHandler<ApiEnv> {
  const keyed = requireScope(deps, "release");
  return async (c, next) => {
    const signature = c.req.header("x-slipway-signature-256");
    if (signature === undefined) return keyed(c, next);
    const body = await c.req.text();
    if (!/^sha256=[a-f0-9]{64}$/.test(signature) || !safeEqual(signature, signBody(deps.secrets.webhookSecret, body)))
      return problem(c, 401, "webhook.bad_signature", "X-Slipway-Signature-256 does not match the body; sign the raw body with HMAC-SHA256 and the webhook secret");
    c.set("principal", { actor: { kind: "ci", id: "ci-webhook" }, scopes: ["release"] });
    return next();
  };
}

export function registerWebhookRoutes(app: OpenAPIHono<ApiEnv>, deps: ApiDeps): void {
  app.use("/v1/webhooks/ci", bodyLimit({ maxSize: MAX_WEBHOOK_BYTES, onError: (c) => problem(c, 413, "request.too_large", `webhook bodies are limited to ${MAX_WEBHOOK_BYTES} bytes`) }));
  app.use("/v1/webhooks/ci", signedOrKeyed(deps));
  app.openapi(
    createRoute({
      method: "post",
      path: "/v1/webhooks/ci",
      summary: "Create a release from CI",
      description:
        "Signed with `X-Slipway-Signature-256: sha256=<HMAC-SHA256 of the raw body with the webhook secret>`, or authorized by a `release`-scoped API key. `X-Slipway-Delivery` makes redeliveries idempotent: the same release comes back and nothing is appended.",
      request: {
        headers: z.object({ "x-slipway-delivery": z.string().regex(DELIVERY_PATTERN).optional() }),
        body: { required: true, content: { "application/json": { schema: CiWebhookBody } } },
      },
      responses: {
        202: { description: "the release was created (or, for a redelivery, had been)", content: { "application/json": { schema: z.object({ releaseId: z.string(), duplicate: z.boolean() }) } } },
        ...problemResponses(400, 401, 403, 404, 413),
      },
    }),
    async (c) => {
      const body = c.req.valid("json");
      const delivery = c.req.valid("header")["x-slipway-delivery"];
      const config = await readConfig(deps);
      const application = getConfig(config, "application", body.application);
      if (!application) throw notFound("application.not_found", `application "${body.application}" does not exist`);
      const service = getConfig(config, "service", body.service);
      if (!service || service.spec.application !== body.application)
        throw notFound("service.not_found", `service "${body.service}" does not exist in application "${body.application}"`);

      const releaseId = newReleaseId(new Date());
      const result = await handleCommand(
        deps.store,
        releaseDecider,
        streams.release(releaseId),
        { type: "CreateRelease", releaseId, application, service, params: body.params, ...(body.source ? { source: body.source } : {}) },
        metadataOf(c, deps),
        delivery ? { commandId: `ci-delivery:${delivery}` } : {},
      );
      const created = result.events.find((e) => e.type === "ReleaseCreated");
      const id = created?.type === "ReleaseCreated" ? created.data.releaseId : releaseId;
      return c.json({ releaseId: id, duplicate: id !== releaseId }, 202);
    },
  );
}
