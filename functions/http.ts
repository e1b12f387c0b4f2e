import { randomUUID } from "node:crypto";
import { OpenAPIHono } from "@hono/zod-openapi";
import { handle } from "hono/aws-lambda";
import type { Context } from "hono";
import { bodyLimit } from "hono/body-limit";
import { SLIPWAY_VERSION } from "../core/index.js";
import type { Principal } from "./services/access.js";
import { checkHealth, publicHealth } from "./services/health.js";
import { loggerOf, type ApiDeps, type Logger } from "./services/deps.js";
import { authorize, authorizeIfPresented } from "./routes/access.js";
import { registerAgentInstructionRoutes } from "./routes/agent-instructions.js";
import { registerApiKeyRoutes } from "./routes/api-keys.js";
import { registerApplicationRoutes } from "./routes/applications.js";
import { registerApprovalRoutes } from "./routes/approvals.js";
import { registerConfigRoutes } from "./routes/configs.js";
import { registerDashboard } from "./routes/dashboard/index.js";
import { registerEventRoutes } from "./routes/events.js";
import type { ApiEnv } from "./routes/context.js";
import { registerOperationRoutes } from "./routes/operations.js";
import { invalidBody, onError, problem } from "./routes/problem.js";
import { registerReleaseRoutes } from "./routes/releases.js";
import { registerRuntimeRoutes } from "./routes/runtimes.js";
import { registerSecretRoutes } from "./routes/secrets.js";
import { registerWebhookRoutes } from "./routes/webhooks.js";
import { apiFromResources } from "./wiring.js";

/**
 * The largest body an endpoint reads unless it sets a limit of its own (configs 1 MB, the CI
 * webhook 256 KB): nothing is buffered without a bound.
 */
export const DEFAULT_BODY_LIMIT = 64 * 1024;
const OWN_BODY_LIMITS = new Set(["/v1/configs", "/v1/webhooks/ci"]);

const OPENAPI = {
  openapi: "3.1.0",
  info: {
    title: "Slipway API",
    version: SLIPWAY_VERSION,
    description: "Release orchestration: configs, releases, approvals and agents. Errors are application/problem+json.",
  },
  security: [{ bearer: [] }],
};

/** The HTTP API. Built from its dependencies so tests and the local stack can hand in their own. */
export function createHttpApp(deps: ApiDeps): OpenAPIHono<ApiEnv> {
  const app = new OpenAPIHono<ApiEnv>({
    defaultHook: (result, c) => (result.success ? undefined : invalidBody(c, result.error)),
  });
  const logger = loggerOf(deps).child({ component: "api" });
  app.onError((err, c) => onError(err, c, logger.child({ requestId: c.get("requestId") })));
  app.notFound((c) => problem(c, 404, "route.not_found", `no endpoint ${c.req.method} ${c.req.path}`));
  app.use("*", async (c, next) => {
    const given = c.req.header("x-request-id");
    const requestId = given && /^[A-Za-z0-9._:-]{1,128}$/.test(given) ? given : randomUUID();
    c.set("requestId", requestId);
    const started = performance.now();
    await next();
    c.header("x-request-id", requestId);
    // A body refused as too large was not read to its end: what is left of it would be read as the
    // next request on this connection, so the connection ends with this answer (a client opens a
    // fresh one) instead of being reset under the client's next request.
    if (c.res.status === 413) c.header("connection", "close");
    await logRequest(logger, c.req.method, c.req.path, c.res, {
      requestId,
      ms: Math.round(performance.now() - started),
    });
  });

  const defaultBodyLimit = bodyLimit({
    maxSize: DEFAULT_BODY_LIMIT,
    onError: (c) =>
      problem(c, 413, "request.too_large", `request bodies are limited to ${DEFAULT_BODY_LIMIT} bytes here`),
  });
  app.use("*", (c: Context<ApiEnv, string>, next) =>
    OWN_BODY_LIMITS.has(c.req.path) ? next() : defaultBodyLimit(c, next),
  );

  // Anyone may ask whether Slipway is well; only a `read` caller sees each check's detail, which
  // names tables, queue URLs, the stream ARN and the WebSocket URL.
  app.get("/healthz", authorizeIfPresented(deps, "read"), async (c) => {
    const health = await checkHealth(deps.checks);
    const status = health.status === "ok" ? 200 : 503;
    const principal = c.get("principal") as Principal | undefined;
    // An answer for a key holder must not be kept by a cache and handed to someone without one.
    c.header("cache-control", "no-store");
    return c.json(principal ? health : publicHealth(health), status);
  });
  registerConfigRoutes(app, deps);
  registerWebhookRoutes(app, deps);
  registerReleaseRoutes(app, deps);
  registerApiKeyRoutes(app, deps);
  registerSecretRoutes(app, deps);
  registerApprovalRoutes(app, deps);
  registerRuntimeRoutes(app, deps);
  registerOperationRoutes(app, deps);
  registerApplicationRoutes(app, deps);
  registerEventRoutes(app, deps);
  registerAgentInstructionRoutes(app, deps);
  registerDashboard(app, deps);

  app.openAPIRegistry.registerComponent("securitySchemes", "bearer", {
    type: "http",
    scheme: "bearer",
    description: "An API key: the admin bootstrap key or one issued by POST /v1/api-keys",
  });
  app.get("/openapi.json", authorize(deps, "public"), (c) => c.json(tagged(app.getOpenAPI31Document(OPENAPI))));
  return app;
}

/** Each operation's group in the API reference (/docs), by the area of its path. */
const TAGS: [prefix: string, tag: string][] = [
  ["/v1/configs", "Configs"],
  ["/v1/webhooks", "Releases"],
  ["/v1/releases", "Releases"],
  ["/v1/callbacks", "Approvals"],
  ["/v1/applications", "Applications"],
  ["/v1/runtimes", "Runtimes"],
  ["/v1/agent", "Runtimes"],
  ["/v1/events", "Events"],
  ["/v1/api-keys", "Access"],
  ["/v1/secrets", "Secrets"],
];

function tagged<D extends { paths?: object }>(doc: D): D {
  for (const [path, operations] of Object.entries(doc.paths ?? {}) as [string, Record<string, unknown> | undefined][]) {
    const tag = path.includes("/approvals") ? "Approvals" : TAGS.find(([prefix]) => path.startsWith(prefix))?.[1];
    if (!tag || !operations) continue;
    for (const op of Object.values(operations)) if (op && typeof op === "object") Object.assign(op, { tags: [tag] });
  }
  return doc;
}

/**
 * One line per request: refusals at info with their code and sentence (a person asking why a
 * webhook made no release finds it), everything else at debug. Headers and bodies are not logged.
 */
async function logRequest(
  logger: Logger,
  method: string,
  path: string,
  res: Response,
  keys: { requestId: string; ms: number },
): Promise<void> {
  const line = `${method} ${path} → ${res.status}`;
  if (res.status < 400) return logger.debug(line, { ...keys, status: res.status });
  const problem = res.headers.get("content-type")?.startsWith("application/problem+json")
    ? ((await res
        .clone()
        .json()
        .catch(() => undefined)) as { code?: string; detail?: string } | undefined)
    : undefined;
  logger.info(problem?.code ? `${line} ${problem.code}: ${problem.detail ?? ""}` : line, {
    ...keys,
    status: res.status,
  });
}

let lambda: ReturnType<typeof handle> | undefined;
export const handler: ReturnType<typeof handle> = (event, context) => {
  lambda ??= handle(createHttpApp(apiFromResources()));
  return lambda(event, context);
};
