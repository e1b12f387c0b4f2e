import { createRoute, type OpenAPIHono } from "@hono/zod-openapi";
import * as z from "zod";
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
import {
  DEFAULT_TOKEN_OVERLAP_SECONDS,
  getRuntime,
  linkRuntime,
  listRuntimes,
  MAX_TOKEN_OVERLAP_SECONDS,
  revokeAgentTokens,
  rotateAgentToken,
  waitForRuntime,
} from "../services/runtimes.js";
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
  tokenRotatedAt: z.string().optional().describe("while a rotation's overlap runs: when the agent token was rotated"),
  previousTokenValidUntil: z
    .string()
    .optional()
    .describe("while a rotation's overlap runs: until when the previous agent token is still accepted"),
  management: z
    .enum(["managed", "external"])
    .describe(
      "who keeps the agent current (`kubernetes.management`): managed — Slipway asks an outdated agent to upgrade; external — its operators do",
    ),
  upgradeAvailable: z
    .boolean()
    .describe("the connected agent is older than `latestAgentVersion` (and still supported)"),
  latestAgentVersion: z.string().describe("the agent version this server ships"),
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

/** How long a rotation keeps the previous agent token accepted (in the query or the body). */
const overlap = {
  overlap: Duration.optional().describe(
    `how long the previous token stays accepted (300s, 10m, 1h; default ${DEFAULT_TOKEN_OVERLAP_SECONDS / 60}m, at most ${MAX_TOKEN_OVERLAP_SECONDS / 3600}h)`,
  ),
};
const OverlapQuery = z.object(overlap);
const OverlapBody = z.strictObject(overlap).default({});

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
    .enum(["pvc", "configmap", "ephemeral"], { error: "must be pvc, configmap or ephemeral" })
    .optional()
    .describe(
      "`pvc` (default): what the agent applied is kept on a PersistentVolumeClaim across pods; `configmap`: in a ConfigMap the agent writes through the API server (no volume); `ephemeral`: an emptyDir, lost with the pod",
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
          "The token is in this response only; Slipway keeps its SHA-256. Linking again replaces the token: the old one stops working, a connected agent loses its lease and the runtime is unpinned from its cluster — to change the token with an overlap, use POST /v1/runtimes/{name}/token.",
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

  app.openapi(
    createRoute(
      withAccess(deps, "admin", {
        method: "post",
        path: "/v1/runtimes/{name}/token",
        summary: "Rotate a runtime's agent token: a new one, while the previous one stays accepted for an overlap",
        description: `The new token is in this response only. The previous token is still accepted for \`overlap\` (default ${DEFAULT_TOKEN_OVERLAP_SECONDS / 60}m, at most ${MAX_TOKEN_OVERLAP_SECONDS / 3600}h; in the query or the body) — by new connections, payload fetches, and the agent connected with it — so the agent can be restarted with the new token without the runtime dropping. The runtime stays linked and pinned to its cluster. \`commands\` update the agent's Secret and restart it. \`409 runtime.not_linked\` when the runtime has no token to rotate.`,
        request: {
          params: z.object({ name: z.string().max(63) }),
          query: OverlapQuery,
          body: { required: false, content: { "application/json": { schema: OverlapBody } } },
        },
        responses: {
          200: {
            description:
              "the new token, until when the previous one is accepted, and how to give the agent the new one",
            content: {
              "application/json": {
                schema: z.object({
                  runtime: z.string(),
                  token: z.string(),
                  tokenId: z.string(),
                  tokenGeneration: z.number(),
                  rotatedAt: z.string(),
                  previousTokenId: z.string(),
                  previousTokenValidUntil: z.string(),
                  secret: z
                    .object({ namespace: z.string(), name: z.string(), key: z.literal("SLIPWAY_AGENT_TOKEN") })
                    .describe("the agent's Secret, as the install YAML names it, and the key holding the token"),
                  commands: z
                    .array(z.string())
                    .describe("kubectl commands: put the new token into the Secret, then restart the agent"),
                }),
              },
            },
          },
          ...problemResponses(400, 401, 403, 404, 409),
        },
      }),
    ),
    async (c) => {
      const overlap = overlapSeconds(c.req.valid("json")?.overlap ?? c.req.valid("query").overlap);
      return c.json(await rotateAgentToken(deps, c.req.valid("param").name, overlap, metadataOf(c, deps)), 200);
    },
  );

  app.openapi(
    createRoute(
      withAccess(deps, "admin", {
        method: "post",
        path: "/v1/runtimes/{name}/revoke",
        summary: "Revoke a runtime's agent tokens at once (or, with ?token=previous, only a rotation's previous one)",
        description:
          "`token=all` (default): every token of the runtime stops working, its connected agent is disconnected, and the runtime must be linked again. `token=previous`: only the token a rotation kept, ending its overlap now; an agent connected with it is disconnected. Revoking what is not there (already revoked, never linked, no overlap running) changes nothing: `changed: false`.",
        request: {
          params: z.object({ name: z.string().max(63) }),
          query: z.object({
            token: z
              .enum(["all", "previous"], { error: "must be all or previous" })
              .optional()
              .describe("which tokens: `all` (default) or `previous`"),
          }),
        },
        responses: {
          200: {
            description: "what was revoked",
            content: {
              "application/json": {
                schema: z.object({
                  runtime: z.string(),
                  scope: z.enum(["all", "previous"]),
                  changed: z.boolean(),
                  tokens: z.array(z.object({ tokenId: z.string(), tokenGeneration: z.number() })),
                  disconnected: z.string().optional().describe("the agent connection that lost its lease"),
                }),
              },
            },
          },
          ...problemResponses(400, 401, 403, 404, 409),
        },
      }),
    ),
    async (c) =>
      c.json(
        await revokeAgentTokens(
          deps,
          c.req.valid("param").name,
          c.req.valid("query").token ?? "all",
          metadataOf(c, deps),
        ),
        200,
      ),
  );
}

function overlapSeconds(overlap: string | undefined): number {
  if (overlap === undefined) return DEFAULT_TOKEN_OVERLAP_SECONDS;
  const seconds = durationSeconds(overlap);
  if (seconds < 1 || seconds > MAX_TOKEN_OVERLAP_SECONDS)
    throw invalid("request.invalid", `overlap must be from 1s to ${MAX_TOKEN_OVERLAP_SECONDS / 3600}h`, [
      { path: "overlap", message: `must be from 1s to ${MAX_TOKEN_OVERLAP_SECONDS / 3600}h` },
    ]);
  return seconds;
}
