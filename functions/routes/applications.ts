import { createRoute, type OpenAPIHono } from "@hono/zod-openapi";
import { z } from "zod";
import { applicationView } from "../services/channels.js";
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
    }),
  ),
});

export function registerApplicationRoutes(app: OpenAPIHono<ApiEnv>, deps: ApiDeps): void {
  app.openapi(
    createRoute(
      withAccess(deps, "read", {
        method: "get",
        path: "/v1/applications/{app}",
        summary:
          "An application's channels: per service the desired and converged release, per runtime what it applied, and what waits and why",
        request: { params: z.object({ app: z.string().max(63) }) },
        responses: {
          200: { description: "the application", content: { "application/json": { schema: ApplicationView } } },
          ...problemResponses(400, 401, 403, 404),
        },
      }),
    ),
    async (c) => c.json(await applicationView(deps, c.req.valid("param").app), 200),
  );
}
