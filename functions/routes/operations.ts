import { createRoute, type OpenAPIHono } from "@hono/zod-openapi";
import { z } from "zod";
import { pauseChannel, resumeChannel, rollbackService } from "../services/channels.js";
import type { ApiDeps } from "../services/deps.js";
import { abandonRelease } from "../services/releases.js";
import { withAccess } from "./access.js";
import { metadataOf, type ApiEnv } from "./context.js";
import { problemResponses } from "./problem.js";

const Reason = z.strictObject({ reason: z.string().max(1000).optional() }).default({});
const ChannelParams = z.object({ app: z.string().max(63), channel: z.string().max(63) });
const Done = z.object({ changed: z.boolean() });
const optionalBody = (schema: z.ZodType) => ({ required: false, content: { "application/json": { schema } } });
/** An optional `{reason}` body: absent, or given. */
const reasonOf = (body: unknown) => (body as { reason?: string } | undefined)?.reason;

/** Operator commands: abandon a release, pause and resume a channel, roll a service back. */
export function registerOperationRoutes(app: OpenAPIHono<ApiEnv>, deps: ApiDeps): void {
  app.openapi(
    createRoute(
      withAccess(deps, "admin", {
        method: "post",
        path: "/v1/releases/{id}/abandon",
        summary: "Abandon a release: it is never promoted further",
        request: { params: z.object({ id: z.string().max(64) }), body: optionalBody(Reason) },
        responses: {
          200: { description: "abandoned", content: { "application/json": { schema: Done } } },
          ...problemResponses(400, 401, 403, 404),
        },
      }),
    ),
    async (c) =>
      c.json(
        await abandonRelease(deps, c.req.valid("param").id, reasonOf(c.req.valid("json")), metadataOf(c, deps)),
        200,
      ),
  );

  for (const action of ["pause", "resume"] as const) {
    app.openapi(
      createRoute(
        withAccess(deps, "admin", {
          method: "post",
          path: `/v1/applications/{app}/channels/{channel}/${action}`,
          summary:
            action === "pause"
              ? "Pause a channel: nothing is applied there until it is resumed"
              : "Resume a paused channel: waiting releases are evaluated again",
          request: { params: ChannelParams, body: optionalBody(Reason) },
          responses: {
            200: { description: `${action}d`, content: { "application/json": { schema: Done } } },
            ...problemResponses(400, 401, 403, 404),
          },
        }),
      ),
      async (c) => {
        const { app: application, channel } = c.req.valid("param");
        const meta = metadataOf(c, deps);
        return c.json(
          action === "pause"
            ? await pauseChannel(deps, application, channel, reasonOf(c.req.valid("json")), meta)
            : await resumeChannel(deps, application, channel, meta),
          200,
        );
      },
    );
  }

  app.openapi(
    createRoute(
      withAccess(deps, "admin", {
        method: "post",
        path: "/v1/applications/{app}/channels/{channel}/rollback",
        summary: "Roll a service in a channel back to a release that ran there before",
        description: "Skips the channel's soak and approval gates, and is recorded as a rollback.",
        request: {
          params: ChannelParams,
          body: {
            required: true,
            content: {
              "application/json": {
                schema: z.strictObject({
                  service: z.string().max(63),
                  releaseId: z.string().max(64),
                  reason: z.string().max(1000).optional(),
                }),
              },
            },
          },
        },
        responses: {
          200: {
            description: "rolled back",
            content: { "application/json": { schema: Done.extend({ instructions: z.array(z.string()) }) } },
          },
          ...problemResponses(400, 401, 403, 404, 409),
        },
      }),
    ),
    async (c) => {
      const { app: application, channel } = c.req.valid("param");
      const { service, releaseId, reason } = c.req.valid("json");
      return c.json(
        await rollbackService(
          deps,
          { application, channel, service, releaseId, ...(reason ? { reason } : {}) },
          metadataOf(c, deps),
        ),
        200,
      );
    },
  );
}
