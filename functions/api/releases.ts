import { createRoute, type OpenAPIHono } from "@hono/zod-openapi";
import { z } from "zod";
import { fold, notFound, releaseDecider, streams } from "../../core/index.js";
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
    }),
  ),
});
const HistoryEvent = z.object({ version: z.number(), type: z.string(), occurredAt: z.string(), actor: z.object({ kind: z.string(), id: z.string() }), data: z.unknown() });

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
      const channels = state.channels.map((name) => {
        const g = state.gates[name];
        return { name, started: g?.started ?? false, preconditions: g?.preconditions ?? {}, approvals: g?.approvals ?? {}, ...(g?.supersededBy ? { supersededBy: g.supersededBy } : {}) };
      });
      const { releaseId, status, application, service, params, source } = state;
      return c.json({ releaseId, status, application, service, params, source, channels }, 200);
    },
  );
  app.openapi(
    createRoute({ method: "get", path: "/v1/releases/{id}/events", summary: "A release's full history", request: { params: Id }, responses: { 200: { description: "every event, oldest first", content: { "application/json": { schema: z.object({ items: z.array(HistoryEvent) }) } } }, ...problems } }),
    async (c) => {
      const { history } = await load(c.req.valid("param").id);
      return c.json({ items: history.map(({ version, type, occurredAt, actor, data }) => ({ version, type, occurredAt, actor, data })) }, 200);
    },
  );
}
