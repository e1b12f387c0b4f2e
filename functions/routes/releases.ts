import { createRoute, type OpenAPIHono } from "@hono/zod-openapi";
import * as z from "zod";
import type { ApiDeps } from "../services/deps.js";
import { releaseChannelStates } from "../../core/index.js";
import { decodeCursor } from "../services/cursor.js";
import { listReleases } from "../services/queries.js";
import { releaseHistory, releaseView } from "../services/releases.js";
import { withAccess } from "./access.js";
import type { ApiEnv } from "./context.js";
import { problemResponses } from "./problem.js";

const Id = z.object({ id: z.string().regex(/^[a-z0-9-]{1,64}$/) });
const problems = problemResponses(400, 401, 403, 404);

const Gate = z.union([
  z.object({ state: z.literal("satisfied"), note: z.string().optional() }),
  z.object({ state: z.literal("blocked"), reason: z.string(), until: z.string().optional() }),
]);
const Scalar = z.union([z.string(), z.number(), z.boolean()]);
const ChannelInputs = z.object({
  params: z.record(z.string(), z.union([z.string(), z.number()])),
  constants: z.record(z.string(), Scalar),
});
const ReleaseView = z.object({
  releaseId: z.string(),
  status: z.enum(["active", "abandoned"]),
  bad: z
    .object({ reason: z.string() })
    .optional()
    .describe("set when the release was marked bad: it is never promoted again"),
  application: z.string(),
  service: z.string(),
  params: z.record(z.string(), z.union([z.string(), z.number()])),
  source: z.record(z.string(), z.string().optional()),
  author: z.string().optional().describe("who made the change, as CI said; may not approve it unless allowed"),
  cause: z
    .enum(["ci", "config"])
    .describe("ci: a build; config: a config change, carrying the params of `basedOn` with the config as it was then"),
  basedOn: z.string().optional().describe("for a config release: the release whose params and source it carries"),
  configVersions: z
    .object({
      application: z.number(),
      service: z.number(),
      runtimes: z.record(z.string(), z.number()).optional(),
    })
    .describe("the versions of the config objects the release renders from, in every channel and every rollback to it"),
  channels: z.array(
    z.object({
      name: z.string(),
      started: z.boolean(),
      preconditions: z.record(z.string(), Gate),
      approvals: z.record(
        z.string(),
        z.object({
          requested: z
            .boolean()
            .describe("false until the release reaches the gate: decisions so far are pre-approvals"),
          minApprovers: z.number().optional().describe("fixed when the approval is requested"),
          grantedBy: z.array(z.string()),
          rejected: z.object({ approver: z.string(), comment: z.string().optional() }).optional(),
        }),
      ),
      supersededBy: z.string().optional(),
      explicitPromotion: z
        .object({ reason: z.string(), hold: z.number() })
        .optional()
        .describe("an operator's explicit promotion past the channel's rollback hold"),
      overrides: z
        .record(z.string(), z.object({ by: z.string(), reason: z.string() }))
        .optional()
        .describe("gates an admin overrode for the release here, by key: who and why"),
      /** What this release's deployment looks like in the channel: not there, on its way, converged, failed or replaced. */
      deployment: z.enum(["none", "deploying", "converged", "failed", "replaced", "rolledBack"]),
      waiting: z.array(z.string()).optional(),
      inputs: ChannelInputs.optional().describe(
        "what the release renders with in this channel, from its pinned config",
      ),
    }),
  ),
});
const HistoryEvent = z.object({
  streamId: z.string(),
  version: z.number(),
  type: z.string(),
  occurredAt: z.string(),
  actor: z.object({ kind: z.string(), id: z.string() }),
  data: z.unknown(),
});

const Name = z.string().min(1).max(63);
const ReleaseSummary = z.object({
  releaseId: z.string(),
  application: z.string(),
  service: z.string(),
  params: z.record(z.string(), z.union([z.string(), z.number()])),
  author: z.string().optional(),
  cause: z.enum(["ci", "config"]),
  createdAt: z.string(),
  status: z.enum(["active", "abandoned"]),
  bad: z.object({ reason: z.string() }).optional(),
  channels: z.array(
    z.object({
      name: z.string(),
      state: z
        .enum(releaseChannelStates)
        .describe(
          "pending: not entered; waiting: entered, held by its gates (`waiting` says why); deploying, converged, failed: its deployment there; replaced: it ran there, now another release does; rolledBack: rolled back from; superseded, abandoned, bad: it will not get there",
        ),
      waiting: z.array(z.string()).optional(),
    }),
  ),
});
const ReleaseListQuery = z.object({
  application: Name.optional(),
  service: Name.optional(),
  channel: Name.optional().describe("with `state`: the channel it is in; alone: releases that entered the channel"),
  state: z.enum(releaseChannelStates).optional().describe("in `channel` if given, else in any channel"),
  author: z.string().min(1).max(256).optional(),
  since: z.iso
    .datetime({ offset: true, error: "must be an RFC 3339 time with a UTC offset, such as 2026-12-24T18:00:00Z" })
    .optional()
    .describe("releases created at or after"),
  limit: z.coerce.number().int().min(1).max(200).default(50),
  cursor: z
    .string()
    .max(1024)
    .refine((c) => decodeCursor("releases", c) !== undefined, { error: "must be a nextCursor this list returned" })
    .optional(),
});

export function registerReleaseRoutes(app: OpenAPIHono<ApiEnv>, deps: ApiDeps): void {
  app.openapi(
    createRoute(
      withAccess(deps, "read", {
        method: "get",
        path: "/v1/releases",
        summary: "Releases, newest first, with their state in every channel; filters combine",
        request: { query: ReleaseListQuery },
        responses: {
          200: {
            description: "a page of releases; `nextCursor` when there may be more",
            content: {
              "application/json": {
                schema: z.object({ items: z.array(ReleaseSummary), nextCursor: z.string().optional() }),
              },
            },
          },
          ...problemResponses(400, 401, 403),
        },
      }),
    ),
    async (c) => {
      const { application, cursor, limit, ...filter } = c.req.valid("query");
      const page = await listReleases(deps, {
        ...(application ? { application } : {}),
        filter,
        limit,
        ...(cursor ? { cursor: decodeCursor("releases", cursor)! } : {}),
      });
      return c.json(page, 200);
    },
  );
  app.openapi(
    createRoute(
      withAccess(deps, "read", {
        method: "get",
        path: "/v1/releases/{id}",
        summary: "A release and the state of its gates in every channel",
        request: { params: Id },
        responses: {
          200: { description: "the release", content: { "application/json": { schema: ReleaseView } } },
          ...problems,
        },
      }),
    ),
    async (c) => c.json(await releaseView(deps, c.req.valid("param").id), 200),
  );
  app.openapi(
    createRoute(
      withAccess(deps, "read", {
        method: "get",
        path: "/v1/releases/{id}/events",
        summary: "A release's full history: its own events and what happened to it in every channel",
        request: { params: Id },
        responses: {
          200: {
            description: "every event, oldest first",
            content: { "application/json": { schema: z.object({ items: z.array(HistoryEvent) }) } },
          },
          ...problems,
        },
      }),
    ),
    async (c) => c.json({ items: await releaseHistory(deps, c.req.valid("param").id) }, 200),
  );
}
