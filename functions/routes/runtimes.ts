import { createRoute, type OpenAPIHono } from "@hono/zod-openapi";
import { z } from "zod";
import {
  Duration,
  durationSeconds,
  IMAGE_REFERENCE,
  invalid,
  KUBERNETES_NAME,
  KUBERNETES_NAMESPACE,
  type AgentInstallOptions,
} from "../../core/index.js";
import type { ApiDeps } from "../services/deps.js";
import { getRuntime, linkRuntime, listRuntimes, waitForRuntime } from "../services/runtimes.js";
import { withAccess } from "./access.js";
import { metadataOf, type ApiEnv } from "./context.js";
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
    .array(
      z.object({
        service: z.string(),
        releaseId: z.string().optional(),
        images: z.array(z.string()).optional(),
        healthy: z.boolean(),
      }),
    )
    .optional()
    .describe(
      "what the agent last reported runs in this runtime (its `state` message, sent on connect and after each apply)",
    ),
  stateReportedAt: z.string().optional(),
  cluster: z
    .object({ id: z.string(), serverVersion: z.string().optional() })
    .optional()
    .describe(
      "the cluster the runtime is pinned to (its kube-system namespace UID) and its API server's version, as its agent reported them; an agent in another cluster is refused until the runtime is linked again",
    ),
});

/**
 * The longest a `?wait=` request waits: API Gateway's HTTP APIs end a request at 30 s, so a longer
 * timeout is cut to this and the caller asks again.
 */
export const MAX_WAIT_SECONDS = 25;

const WaitQuery = z.object({
  wait: z
    .enum(["linked", "connected"], { error: "must be linked or connected" })
    .optional()
    .describe(
      "answer once this holds: `linked` (an agent has registered since the runtime was last linked) or `connected` (an agent holds the lease now)",
    ),
  timeout: Duration.optional().describe(
    `how long to wait (30s, 2m); at most ${MAX_WAIT_SECONDS} s per request (default), then 408 runtime.wait_timeout: ask again`,
  ),
});

/** How the install YAML runs the agent (query parameters: a link call needs no body). */
const LinkOptions = z.object({
  namespace: z
    .string()
    .regex(KUBERNETES_NAMESPACE, { error: "must be a Kubernetes namespace name (lowercase letters, digits and '-')" })
    .optional()
    .describe("the namespace the agent runs in (default slipway-agent; several runtimes may share one)"),
  image: z
    .string()
    .regex(IMAGE_REFERENCE, { error: "must be an image reference, such as registry.example.com/slipway/agent:1.0.0" })
    .optional()
    .describe("the agent's image (default slipway/agent:<version>)"),
  rbac: z
    .enum(["namespaced", "cluster"], { error: "must be namespaced or cluster" })
    .optional()
    .describe(
      "`namespaced` (default): a Role in the agent's namespace and in each namespace the runtime's config lists (`kubernetes.namespaces`); `cluster`: a ClusterRole over every namespace",
    ),
  state: z
    .enum(["pvc", "ephemeral"], { error: "must be pvc or ephemeral" })
    .optional()
    .describe(
      "`pvc` (default): what the agent applied is kept on a PersistentVolumeClaim across pods; `ephemeral`: an emptyDir, for clusters without a default storage class",
    ),
  caSecret: z
    .string()
    .regex(KUBERNETES_NAME, { error: "must be a Kubernetes object name" })
    .optional()
    .describe("a Secret in the agent's namespace whose `ca.crt` the agent trusts (a private CA in front of Slipway)"),
  caConfigMap: z
    .string()
    .regex(KUBERNETES_NAME, { error: "must be a Kubernetes object name" })
    .optional()
    .describe("the same from a ConfigMap (give one of caSecret and caConfigMap)"),
  httpsProxy: z
    .url({ protocol: /^https?$/, error: "must be an http:// or https:// URL, such as http://proxy.internal:3128" })
    .max(2048)
    .optional()
    .describe("an HTTP proxy the agent reaches Slipway through (CONNECT); the Kubernetes API is reached directly"),
});

/** The install options a link call gives, as the install YAML takes them. */
function installOptions(query: z.infer<typeof LinkOptions>): AgentInstallOptions {
  const { namespace, image, rbac, state, caSecret, caConfigMap, httpsProxy } = query;
  if (caSecret && caConfigMap)
    throw invalid("request.invalid", "give one of caSecret and caConfigMap", [
      { path: "caConfigMap", message: "give one of caSecret and caConfigMap, not both" },
    ]);
  return {
    ...(namespace ? { namespace } : {}),
    ...(image ? { image } : {}),
    ...(rbac ? { rbac } : {}),
    ...(state ? { state } : {}),
    ...(caSecret ? { caBundle: { secret: caSecret } } : caConfigMap ? { caBundle: { configMap: caConfigMap } } : {}),
    ...(httpsProxy ? { httpsProxy } : {}),
  };
}

export function registerRuntimeRoutes(app: OpenAPIHono<ApiEnv>, deps: ApiDeps): void {
  app.openapi(
    createRoute(
      withAccess(deps, "admin", {
        method: "post",
        path: "/v1/runtimes/{name}/link",
        summary: "Link a runtime: a fresh agent token and the Kubernetes YAML to run its agent",
        description:
          "The token is in this response only; Slipway keeps its SHA-256. Linking again rotates the token: the old one stops working and a connected agent loses its lease.",
        request: {
          params: z.object({ name: z.string().max(63) }),
          query: LinkOptions,
        },
        responses: {
          200: {
            description: "the token and install manifest",
            content: {
              "application/json": {
                schema: z.object({
                  runtime: z.string(),
                  token: z.string(),
                  tokenId: z.string(),
                  serverUrl: z.string(),
                  installManifest: z.string(),
                }),
              },
            },
          },
          ...problemResponses(400, 401, 403, 404, 409),
        },
      }),
    ),
    async (c) => {
      const options = installOptions(c.req.valid("query"));
      return c.json(await linkRuntime(deps, c.req.valid("param").name, metadataOf(c, deps), options), 200);
    },
  );

  app.openapi(
    createRoute(
      withAccess(deps, "read", {
        method: "get",
        path: "/v1/runtimes",
        summary: "Every runtime: linked or not, agent connected, agent version",
        responses: {
          200: {
            description: "the runtimes",
            content: { "application/json": { schema: z.object({ items: z.array(RuntimeView) }) } },
          },
          ...problemResponses(401, 403),
        },
      }),
    ),
    async (c) => c.json({ items: await listRuntimes(deps) }, 200),
  );

  app.openapi(
    createRoute(
      withAccess(deps, "read", {
        method: "get",
        path: "/v1/runtimes/{name}",
        summary: "One runtime; with ?wait=linked, once an agent has registered (a long poll)",
        description: `Infrastructure code links a runtime, installs the agent, then asks with \`?wait=linked&timeout=60s\` and gets the runtime once its agent has registered. One request waits at most ${MAX_WAIT_SECONDS} s; until then it answers 408 \`runtime.wait_timeout\`, saying where the runtime stands — ask again.`,
        request: { params: z.object({ name: z.string().max(63) }), query: WaitQuery },
        responses: {
          200: { description: "the runtime", content: { "application/json": { schema: RuntimeView } } },
          ...problemResponses(400, 401, 403, 404, 408),
        },
      }),
    ),
    async (c) => {
      const { name } = c.req.valid("param");
      const { wait, timeout } = c.req.valid("query");
      if (!wait) return c.json(await getRuntime(deps, name), 200);
      const seconds = Math.min(MAX_WAIT_SECONDS, timeout === undefined ? MAX_WAIT_SECONDS : durationSeconds(timeout));
      return c.json(await waitForRuntime(deps, name, wait, seconds * 1000), 200);
    },
  );
}
