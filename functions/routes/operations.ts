import { createRoute, type OpenAPIHono } from "@hono/zod-openapi";
import * as z from "zod";
import { Name } from "../../core/index.js";
import { pauseChannel, resumeChannel, rollbackService } from "../services/channels.js";
import type { ApiDeps } from "../services/deps.js";
import { overrideGate } from "../services/overrides.js";
import { abandonRelease, markReleaseBad, promoteExplicitly } from "../services/releases.js";
import { withAccess } from "./access.js";
import { metadataOf, type ApiEnv } from "./context.js";
import { problemResponses } from "./problem.js";

const Reason = z.strictObject({ reason: z.string().max(1000).optional() }).default({});
const ChannelParams = z.object({ app: Name, channel: Name });
const Done = z.object({ changed: z.boolean() });
const optionalBody = (schema: z.ZodType) => ({ required: false, content: { "application/json": { schema } } });
/** An optional `{reason}` body: absent, or given. */
const reasonOf = (body: unknown) => (body as { reason?: string } | undefined)?.reason;
const Pause = z
  .strictObject({
    reason: z.string().max(1000).optional(),
    until: z.iso
      .datetime({ offset: true, error: "must be an RFC 3339 time with a UTC offset, such as 2026-12-24T18:00:00Z" })
      .optional()
      .describe("the pause ends by itself then; must be in the future"),
  })
  .default({});
const pauseOf = (body: unknown) => (body as { reason?: string; until?: string } | undefined) ?? {};
const Override = z.strictObject({
  gate: z.string().min(1).max(200).describe("the gate's key, as the release view shows it: manualApproval:approval"),
  reason: z.string().min(1).max(1000),
});

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

  app.openapi(
    createRoute(
      withAccess(deps, "admin", {
        method: "post",
        path: "/v1/releases/{id}/mark-bad",
        summary: "Mark a release bad: it leaves every channel where it waits and is never promoted again",
        description:
          "With `rollback: true`, every channel running the release (or on its way to it) is rolled back to the newest release that converged there before it and is not marked bad.",
        request: {
          params: z.object({ id: z.string().max(64) }),
          body: {
            required: true,
            content: {
              "application/json": {
                schema: z.strictObject({ reason: z.string().min(1).max(1000), rollback: z.boolean().default(false) }),
              },
            },
          },
        },
        responses: {
          200: {
            description: "marked bad",
            content: {
              "application/json": {
                schema: Done.extend({
                  rolledBack: z.array(z.object({ channel: z.string(), toReleaseId: z.string() })),
                  notRolledBack: z.array(z.object({ channel: z.string(), reason: z.string() })),
                }),
              },
            },
          },
          ...problemResponses(400, 401, 403, 404, 409),
        },
      }),
    ),
    async (c) => {
      const { reason, rollback } = c.req.valid("json");
      return c.json(
        await markReleaseBad(deps, { releaseId: c.req.valid("param").id, reason, rollback }, metadataOf(c, deps)),
        200,
      );
    },
  );

  app.openapi(
    createRoute(
      withAccess(deps, "admin", {
        method: "post",
        path: "/v1/releases/{id}/channels/{channel}/promote",
        summary: "Promote a release to a channel that holds it back after a rollback",
        description:
          "After a channel is rolled back from a release, nothing automatic takes that release (or an older one) there again. This lifts the hold for this release; its gates still apply.",
        request: {
          params: z.object({ id: z.string().max(64), channel: Name }),
          body: {
            required: true,
            content: { "application/json": { schema: z.strictObject({ reason: z.string().min(1).max(1000) }) } },
          },
        },
        responses: {
          200: { description: "requested", content: { "application/json": { schema: Done } } },
          ...problemResponses(400, 401, 403, 404, 409),
        },
      }),
    ),
    async (c) => {
      const { id, channel } = c.req.valid("param");
      return c.json(
        await promoteExplicitly(
          deps,
          { releaseId: id, channel, reason: c.req.valid("json").reason },
          metadataOf(c, deps),
        ),
        200,
      );
    },
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
          request: { params: ChannelParams, body: optionalBody(action === "pause" ? Pause : Reason) },
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
            ? await pauseChannel(deps, application, channel, pauseOf(c.req.valid("json")), meta)
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
        path: "/v1/releases/{id}/channels/{channel}/override",
        summary: "Override one blocked gate for one release in one channel",
        description:
          "Only soak (releaseChannelStable) and approval (manualApproval) gates, and only while they block the release there. Recorded with who (the API key's name) and why; the gate passes from then on.",
        request: {
          params: z.object({ id: z.string().max(64), channel: Name }),
          body: { required: true, content: { "application/json": { schema: Override } } },
        },
        responses: {
          200: { description: "overridden", content: { "application/json": { schema: Done } } },
          ...problemResponses(400, 401, 403, 404, 409),
        },
      }),
    ),
    async (c) => {
      const { id, channel } = c.req.valid("param");
      const { gate, reason } = c.req.valid("json");
      const by = c.get("principal").actor.id;
      return c.json(await overrideGate(deps, { releaseId: id, channel, gate, reason, by }, metadataOf(c, deps)), 200);
    },
  );

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
                  service: Name,
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
