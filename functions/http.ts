import { Hono } from "hono";
import { handle } from "hono/aws-lambda";
import { Resource } from "sst";
import { documentClient } from "./adapters/dynamo.js";
import { checkHealth, tableCheck, type HealthCheck } from "./adapters/health.js";

export type HttpDeps = { checks: Record<string, HealthCheck> };

/** The HTTP API. Built from its dependencies so tests and the local stack can hand in their own. */
export function createHttpApp(deps: HttpDeps): Hono {
  const app = new Hono();
  app.get("/healthz", async (c) => {
    const health = await checkHealth(deps.checks);
    return c.json(health, health.ok ? 200 : 503);
  });
  return app;
}

/** Dependencies on AWS (or the local stack), named through SST's linked resources. */
export function depsFromResources(): HttpDeps {
  const db = documentClient();
  return { checks: { eventLog: tableCheck(db, Resource.Events.name) } };
}

let lambda: ReturnType<typeof handle> | undefined;
export const handler: ReturnType<typeof handle> = (event, context) => {
  lambda ??= handle(createHttpApp(depsFromResources()));
  return lambda(event, context);
};
