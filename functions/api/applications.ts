import { createRoute, type OpenAPIHono } from "@hono/zod-openapi";
import { z } from "zod";
import { getConfig, notFound, type ChannelView } from "../../core/index.js";
import { readConfig } from "../adapters/promoter.js";
import { requireScope } from "./auth.js";
import type { ApiDeps, ApiEnv } from "./context.js";
import { problemResponses } from "./problem.js";

const RuntimeApply = z.object({ instructionId: z.string(), releaseId: z.string(), status: z.enum(["dispatched", "acknowledged", "applying", "succeeded", "failed"]), message: z.string().optional() });
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
      paused: z.object({ reason: z.string().optional() }).optional(),
      services: z.record(z.string(), ServiceView),
      waiting: z.array(z.object({ releaseId: z.string(), reasons: z.array(z.string()) })),
    }),
  ),
});

export function registerApplicationRoutes(app: OpenAPIHono<ApiEnv>, deps: ApiDeps): void {
  app.on("GET", "/v1/applications/*", requireScope(deps, "read"));
  app.openapi(
    createRoute({
      method: "get",
      path: "/v1/applications/{app}",
      summary: "An application's channels: per service the desired and converged release, per runtime what it applied, and what waits and why",
      request: { params: z.object({ app: z.string().max(63) }) },
      responses: { 200: { description: "the application", content: { "application/json": { schema: ApplicationView } } }, ...problemResponses(400, 401, 403, 404) },
    }),
    async (c) => {
      const name = c.req.valid("param").app;
      const config = await readConfig(deps);
      const application = getConfig(config, "application", name);
      if (!application) throw notFound("application.not_found", `application "${name}" does not exist`);
      const views = new Map((await deps.readModels.views<ChannelView>(`app#${name}`)).map((v) => [v.sk.slice("channel#".length), v.view]));
      const channels = await Promise.all(
        application.spec.releaseChannels.map(async (ch) => {
          const view = views.get(ch.name);
          return { name: ch.name, ...(view?.paused ? { paused: view.paused } : {}), services: view?.services ?? {}, waiting: await deps.readModels.waiting(name, ch.name) };
        }),
      );
      return c.json({ application: name, version: application.version, channels }, 200);
    },
  );
}
