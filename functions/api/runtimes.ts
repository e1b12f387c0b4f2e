import { createHash, randomBytes, randomUUID } from "node:crypto";
import { createRoute, type OpenAPIHono } from "@hono/zod-openapi";
import { z } from "zod";
import { agentInstallManifest, conflict, getConfig, listConfigs, notFound, runtimeDecider, runtimeStatusView, runtimeType, streams } from "../../core/index.js";
import { handleCommand } from "../adapters/command-handler.js";
import { readConfig } from "../adapters/promoter.js";
import { requireScope } from "./auth.js";
import { metadataOf, nowOf, type ApiDeps, type ApiEnv } from "./context.js";
import { problemResponses } from "./problem.js";

const RuntimeView = z.object({
  name: z.string(),
  type: z.enum(["kubernetes", "extension"]),
  linked: z.boolean(),
  connected: z.boolean(),
  status: z.enum(["connected", "reconnecting", "disconnected"]),
  agentVersion: z.string().optional(),
  leaseGeneration: z.number().optional(),
  lastSeenAt: z.string().optional(),
  disconnectReason: z.string().optional(),
  proxyRuntime: z.string().optional(),
  running: z
    .array(z.object({ service: z.string(), releaseId: z.string().optional(), images: z.array(z.string()).optional(), healthy: z.boolean() }))
    .optional()
    .describe("what the agent last reported runs in this runtime (its `state` message, sent on connect and after each apply)"),
  stateReportedAt: z.string().optional(),
});

export function registerRuntimeRoutes(app: OpenAPIHono<ApiEnv>, deps: ApiDeps): void {
  app.on("POST", "/v1/runtimes/:name/link", requireScope(deps, "admin"));
  app.openapi(
    createRoute({
      method: "post",
      path: "/v1/runtimes/{name}/link",
      summary: "Link a runtime: a fresh agent token and the Kubernetes YAML to run its agent",
      description: "The token is in this response only; Slipway keeps its SHA-256. Linking again rotates the token: the old one stops working and a connected agent loses its lease.",
      request: { params: z.object({ name: z.string().max(63) }) },
      responses: {
        200: { description: "the token and install manifest", content: { "application/json": { schema: z.object({ runtime: z.string(), token: z.string(), tokenId: z.string(), serverUrl: z.string(), installManifest: z.string() }) } } },
        ...problemResponses(401, 403, 404, 409),
      },
    }),
    async (c) => {
      const { name } = c.req.valid("param");
      const config = await readConfig(deps);
      const runtime = getConfig(config, "runtime", name);
      if (!runtime) throw notFound("runtime.not_found", `runtime "${name}" does not exist`);
      if (runtime.spec.extension) throw conflict("runtime.is_extension", `runtime "${name}" is an extension; link its proxy runtime "${runtime.spec.extension.proxyRuntime.runtime}" instead`);
      const token = `slwa_${randomBytes(32).toString("base64url")}`;
      const tokenId = randomUUID();
      await handleCommand(deps.store, runtimeDecider, streams.runtime(name), { type: "IssueAgentToken", runtime: name, tokenId, tokenHash: createHash("sha256").update(token).digest("hex") }, metadataOf(c, deps));
      const serverUrl = deps.agentsUrl ?? "";
      return c.json({ runtime: name, token, tokenId, serverUrl, installManifest: agentInstallManifest({ runtime: name, token, serverUrl }) }, 200);
    },
  );

  app.on("GET", "/v1/runtimes", requireScope(deps, "read"));
  app.openapi(
    createRoute({ method: "get", path: "/v1/runtimes", summary: "Every runtime: linked or not, agent connected, agent version", responses: { 200: { description: "the runtimes", content: { "application/json": { schema: z.object({ items: z.array(RuntimeView) }) } } }, ...problemResponses(401, 403) } }),
    async (c) => {
      const config = await readConfig(deps);
      const items = await Promise.all(
        listConfigs(config, "runtime").map(async (r) => {
          // An extension runs through its proxy runtime's agent: its status is the proxy's.
          const agentRuntime = r.spec.extension?.proxyRuntime.runtime ?? r.name;
          const [history, observed] = await Promise.all([deps.store.read(streams.runtime(agentRuntime)), deps.readModels.observedState(agentRuntime)]);
          const { runtime: _r, ...view } = runtimeStatusView(agentRuntime, history, nowOf(deps).toISOString(), deps.agentGraceSeconds ?? 180);
          // The proxy's agent reports for its extensions too, each service under the runtime its instruction named.
          const running = observed?.services.filter((s) => (s.runtime ?? agentRuntime) === r.name).map(({ runtime: _, ...s }) => s);
          return {
            name: r.name,
            type: runtimeType(r.spec),
            connected: view.status === "connected",
            ...view,
            ...(r.spec.extension ? { proxyRuntime: agentRuntime } : {}),
            ...(observed ? { running, stateReportedAt: observed.reportedAt } : {}),
          };
        }),
      );
      return c.json({ items }, 200);
    },
  );
}
