import { createRoute, type OpenAPIHono } from "@hono/zod-openapi";
import { z } from "zod";
import { fold, notFound, releaseDecider, streams, type ChannelView } from "../../core/index.js";
import { requireScope } from "./auth.js";
import type { ApiDeps, ApiEnv } from "./context.js";
import { problemResponses } from "./problem.js";

const Id = z.object({ id: z.string().regex(/^[a-z0-9-]{1,64}$/) });
const problems = problemResponses(400, 401, 403, 404);

const Gate = z.union([z.object({ state: z.literal("satisfied") }), z.object({ state: z.literal("blocked"), reason: z.string(), until: z.string().optional() })]);
const ReleaseView = z.object({
  releaseId: z.string(),
  status: z.enum(["active", "abandoned"]),
  application: z.string(),
  service: z.string(),
  params: z.record(z.string(), z.union([z.string(), z.number()])),
  source: z.record(z.string(), z.string().optional()),
  channels: z.array(
    z.object({
      name: z.string(),
      started: z.boolean(),
      preconditions: z.record(z.string(), Gate),
      approvals: z.record(z.string(), z.object({ minApprovers: z.number(), grantedBy: z.array(z.string()), rejected: z.object({ approver: z.string(), comment: z.string().optional() }).optional() })),
      supersededBy: z.string().optional(),
      /** What this release's deployment looks like in the channel: not there, on its way, converged, failed or replaced. */
      deployment: z.enum(["none", "deploying", "converged", "failed", "replaced"]),
      waiting: z.array(z.string()).optional(),
    }),
  ),
});
const HistoryEvent = z.object({ streamId: z.string(), version: z.number(), type: z.string(), occurredAt: z.string(), actor: z.object({ kind: z.string(), id: z.string() }), data: z.unknown() });

export function registerReleaseRoutes(app: OpenAPIHono<ApiEnv>, deps: ApiDeps): void {
  const load = async (id: string) => {
    const history = await deps.store.read(streams.release(id));
    const state = fold(releaseDecider, history as never);
    if (state.status === "none") throw notFound("release.not_found", `release ${id} does not exist`);
    return { history, state };
  };

  app.on("GET", "/v1/releases/*", requireScope(deps, "read"));
  app.openapi(
    createRoute({ method: "get", path: "/v1/releases/{id}", summary: "A release and the state of its gates in every channel", request: { params: Id }, responses: { 200: { description: "the release", content: { "application/json": { schema: ReleaseView } } }, ...problems } }),
    async (c) => {
      const { state } = await load(c.req.valid("param").id);
      const views = new Map((await deps.readModels.views<ChannelView>(`app#${state.application}`)).map((v) => [v.sk.slice("channel#".length), v.view]));
      const channels = await Promise.all(
        state.channels.map(async (name) => {
          const g = state.gates[name];
          const svc = views.get(name)?.services[state.service];
          const deployment: "none" | "deploying" | "converged" | "failed" | "replaced" = svc?.desiredReleaseId === state.releaseId ? (svc.state === "idle" ? "none" : svc.state) : svc?.convergedReleaseId === state.releaseId || Object.values(svc?.runtimes ?? {}).some((r) => r.releaseId === state.releaseId) ? "replaced" : "none";
          const waiting = (await deps.readModels.waiting(state.application, name)).find((w) => w.releaseId === state.releaseId);
          return {
            name,
            started: g?.started ?? false,
            preconditions: g?.preconditions ?? {},
            approvals: g?.approvals ?? {},
            ...(g?.supersededBy ? { supersededBy: g.supersededBy } : {}),
            deployment,
            ...(waiting ? { waiting: waiting.reasons } : {}),
          };
        }),
      );
      const { releaseId, status, application, service, params, source } = state;
      return c.json({ releaseId, status, application, service, params, source, channels }, 200);
    },
  );
  app.openapi(
    createRoute({
      method: "get",
      path: "/v1/releases/{id}/events",
      summary: "A release's full history: its own events and what happened to it in every channel",
      request: { params: Id },
      responses: { 200: { description: "every event, oldest first", content: { "application/json": { schema: z.object({ items: z.array(HistoryEvent) }) } } }, ...problems },
    }),
    async (c) => {
      const id = c.req.valid("param").id;
      const { history } = await load(id);
      // The release's own stream is read directly (it is always current); the channel events come from the timeline view.
      const own = history.map(({ streamId, version, type, occurredAt, actor, data }) => ({ streamId, version, type, occurredAt, actor, data }));
      const elsewhere = (await deps.readModels.timeline(id)).filter((t) => t.streamId !== streams.release(id));
      const items = [...own, ...elsewhere].sort((a, b) => a.occurredAt.localeCompare(b.occurredAt) || a.streamId.localeCompare(b.streamId) || a.version - b.version);
      return c.json({ items }, 200);
    },
  );
}
