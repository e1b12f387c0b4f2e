import { randomUUID } from "node:crypto";
import { OpenAPIHono } from "@hono/zod-openapi";
import { handle } from "hono/aws-lambda";
import { Resource } from "sst";
import { registerApiKeyRoutes } from "./api/api-keys.js";
import { registerApprovalRoutes } from "./api/approvals.js";
import { registerRuntimeRoutes } from "./api/runtimes.js";
import { registerOperationRoutes } from "./api/operations.js";
import { registerApplicationRoutes } from "./api/applications.js";
import { registerAgentInstructionRoutes } from "./api/agent-instructions.js";
import { registerConfigRoutes } from "./api/configs.js";
import type { ApiDeps, ApiEnv } from "./api/context.js";
import { invalidBody, onError, problem } from "./api/problem.js";
import { registerReleaseRoutes } from "./api/releases.js";
import { registerWebhookRoutes } from "./api/webhooks.js";
import { documentClient } from "./adapters/dynamo.js";
import { EventStore } from "./adapters/event-store.js";
import { ReadModels } from "./adapters/read-models.js";
import { checkHealth, tableCheck } from "./adapters/health.js";
import { secretsFromResources } from "./adapters/secrets.js";

export type { ApiDeps } from "./api/context.js";

/** The HTTP API. Built from its dependencies so tests and the local stack can hand in their own. */
export function createHttpApp(deps: ApiDeps): OpenAPIHono<ApiEnv> {
  const app = new OpenAPIHono<ApiEnv>({ defaultHook: (result, c) => (result.success ? undefined : invalidBody(c, result.error)) });
  app.onError((err, c) => onError(err, c, deps.log));
  app.notFound((c) => problem(c, 404, "route.not_found", `no endpoint ${c.req.method} ${c.req.path}`));
  app.use("*", async (c, next) => {
    const given = c.req.header("x-request-id");
    const requestId = given && /^[A-Za-z0-9._:-]{1,128}$/.test(given) ? given : randomUUID();
    c.set("requestId", requestId);
    await next();
    c.header("x-request-id", requestId);
  });

  app.get("/healthz", async (c) => {
    const health = await checkHealth(deps.checks);
    return c.json(health, health.ok ? 200 : 503);
  });
  registerConfigRoutes(app, deps);
  registerWebhookRoutes(app, deps);
  registerReleaseRoutes(app, deps);
  registerApiKeyRoutes(app, deps);
  registerApprovalRoutes(app, deps);
  registerRuntimeRoutes(app, deps);
  registerOperationRoutes(app, deps);
  registerApplicationRoutes(app, deps);
  registerAgentInstructionRoutes(app, deps);

  app.doc31("/openapi.json", {
    openapi: "3.1.0",
    info: { title: "Slipway API", version: "0.1.0", description: "Release orchestration: configs, releases, approvals and agents. Errors are application/problem+json." },
    security: [{ bearer: [] }],
  });
  app.openAPIRegistry.registerComponent("securitySchemes", "bearer", { type: "http", scheme: "bearer", description: "An API key: the admin bootstrap key or one issued by POST /v1/api-keys" });
  return app;
}

/** Dependencies on AWS (or the local stack), named through SST's linked resources. */
export function depsFromResources(): ApiDeps {
  const db = documentClient();
  return {
    store: new EventStore(db, Resource.Events.name),
    readModels: new ReadModels(db, Resource.ReadModels.name),
    secrets: secretsFromResources(),
    agentGraceSeconds: Number(process.env.SLIPWAY_AGENT_GRACE_SECONDS ?? 180),
    checks: { eventLog: tableCheck(db, Resource.Events.name) },
    agentsUrl: Resource.Agents.url,
  };
}

let lambda: ReturnType<typeof handle> | undefined;
export const handler: ReturnType<typeof handle> = (event, context) => {
  lambda ??= handle(createHttpApp(depsFromResources()));
  return lambda(event, context);
};
