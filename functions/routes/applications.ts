import { createRoute, type OpenAPIHono } from "@hono/zod-openapi";
import * as z from "zod";
import { Name } from "../../core/index.js";
import { applicationView } from "../services/channels.js";
import { decodeCursor } from "../services/cursor.js";
import { applicationViewAt, channelHistory, listApplications } from "../services/queries.js";
import type { ApiDeps } from "../services/deps.js";
import { withAccess } from "./access.js";
import type { ApiEnv } from "./context.js";
import { problemResponses } from "./problem.js";

const RuntimeApply = z.object({
  instructionId: z.string(),
  releaseId: z.string(),
  status: z.enum(["dispatched", "acknowledged", "applying", "succeeded", "failed"]),
  message: z.string().optional(),
});
const ServiceView = z.object({
  state: z.enum(["idle", "deploying", "converged", "failed"]),
  desiredReleaseId: z.string().optional(),
  rollback: z.boolean().optional(),
  convergedReleaseId: z.string().optional(),
  convergedAt: z.string().optional(),
  runtimes: z.record(z.string(), RuntimeApply),
});
const ApplicationView = z.object({
  application: z.string(),
  version: z.number(),
  channels: z.array(
    z.object({
      name: z.string(),
      paused: z
        .object({ reason: z.string().optional(), until: z.string().optional().describe("it resumes by itself then") })
        .optional(),
      services: z.record(z.string(), ServiceView),
      waiting: z.array(z.object({ releaseId: z.string(), reasons: z.array(z.string()) })),
      unlinkedRuntimes: z
        .array(z.string())
        .optional()
        .describe(
          "the channel's runtimes no agent has registered for since they were linked: nothing deploys there until one does (slipway runtime link)",
        ),
    }),
  ),
});

const AsOf = z.object({
  asOf: z.iso
    .datetime({ offset: true, error: "must be an RFC 3339 time with a UTC offset, such as 2026-12-24T18:00:00Z" })
    .optional()
    .describe("the view as it was at this instant, rebuilt from the log"),
});
const HistoryEntry = z.object({
  at: z.string(),
  kind: z.enum(["dispatched", "converged", "failed", "rolledBack", "paused", "resumed"]),
  service: z.string().optional(),
  releaseId: z.string().optional().describe("rolledBack: the release rolled back to"),
  fromReleaseId: z.string().optional().describe("rolledBack: the release rolled back from"),
  actor: z.object({ kind: z.string(), id: z.string() }),
  reason: z.string().optional(),
  message: z.string().optional().describe("failed: `<runtime>: <what the agent reported>`"),
  approvedBy: z.array(z.string()).optional().describe("dispatched: who approved the release for the channel"),
});
const HistoryQuery = z.object({
  limit: z.coerce.number().int().min(1).max(200).default(50),
  cursor: z
    .string()
    .max(1024)
    .refine((c) => decodeCursor("history", c) !== undefined, { error: "must be a nextCursor this history returned" })
    .optional(),
});

export function registerApplicationRoutes(app: OpenAPIHono<ApiEnv>, deps: ApiDeps): void {
  app.openapi(
    createRoute(
      withAccess(deps, "read", {
        method: "get",
        path: "/v1/applications",
        summary: "Every application, with its channels in order and its services",
        responses: {
          200: {
            description: "the applications, by name",
            content: {
              "application/json": {
                schema: z.object({
                  items: z.array(
                    z.object({
                      name: z.string(),
                      version: z.number(),
                      channels: z.array(z.string()),
                      services: z.array(z.string()),
                    }),
                  ),
                }),
              },
            },
          },
          ...problemResponses(401, 403),
        },
      }),
    ),
    async (c) => c.json({ items: await listApplications(deps) }, 200),
  );
  app.openapi(
    createRoute(
      withAccess(deps, "read", {
        method: "get",
        path: "/v1/applications/{app}/channels/{channel}/history",
        summary: "A channel's history, newest first: dispatches, convergences, failures, rollbacks, pauses",
        request: {
          params: z.object({ app: Name, channel: Name }),
          query: HistoryQuery,
        },
        responses: {
          200: {
            description: "a page of the history; `nextCursor` when there is more",
            content: {
              "application/json": {
                schema: z.object({ items: z.array(HistoryEntry), nextCursor: z.string().optional() }),
              },
            },
          },
          ...problemResponses(400, 401, 403, 404),
        },
      }),
    ),
    async (c) => {
      const { app: application, channel } = c.req.valid("param");
      const { limit, cursor } = c.req.valid("query");
      const query = { limit, ...(cursor ? { cursor: decodeCursor("history", cursor)! } : {}) };
      return c.json(await channelHistory(deps, application, channel, query), 200);
    },
  );
  app.openapi(
    createRoute(
      withAccess(deps, "read", {
        method: "get",
        path: "/v1/applications/{app}",
        summary:
          "An application's channels: per service the desired and converged release, per runtime what it applied, and what waits and why",
        request: { params: z.object({ app: Name }), query: AsOf },
        responses: {
          200: { description: "the application", content: { "application/json": { schema: ApplicationView } } },
          ...problemResponses(400, 401, 403, 404),
        },
      }),
    ),
    async (c) => {
      const { app: name } = c.req.valid("param");
      const { asOf } = c.req.valid("query");
      return c.json(await (asOf ? applicationViewAt(deps, name, new Date(asOf)) : applicationView(deps, name)), 200);
    },
  );
}
