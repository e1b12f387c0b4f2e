import {
  agentInstallManifest,
  agentObjectName,
  agentUpgradeAvailable,
  authenticateAgent,
  conflict,
  CURRENT_AGENT_VERSION,
  DEFAULT_AGENT_IMAGE_REPOSITORY,
  DEFAULT_AGENT_NAMESPACE,
  getConfig,
  imageRepository,
  listConfigs,
  notFound,
  parseInstructionId,
  runtimeDecider,
  runtimeStatusView,
  runtimeType,
  streams,
  timedOut,
  type AgentInstallOptions,
  type ConfigState,
  type StoredConfig,
  type RuntimeStatusView,
  type RuntimeType,
} from "../../core/index.js";
import type { InstructionPayload, Metadata } from "../../events/index.js";
import type { ObservedService } from "../adapters/read-models.js";
import { handleCommand, readState } from "./commands.js";
import { agentRuntimeOf, readConfig } from "./config.js";
import { newAgentToken, sha256 } from "./credentials.js";
import { nowOf, type ApiDeps } from "./deps.js";

/** Runtimes as operators see them: linking one to an agent, and whether its agent is there. */

export type LinkedRuntime = {
  runtime: string;
  token: string;
  tokenId: string;
  serverUrl: string;
  installManifest: string;
};

/** A fresh agent token and the Kubernetes YAML to run the agent; linking again replaces the token (see rotateAgentToken for an overlap). */
export async function linkRuntime(
  deps: ApiDeps,
  name: string,
  meta: Metadata,
  install: AgentInstallOptions = {},
): Promise<LinkedRuntime> {
  const config = await readConfig(deps);
  const runtime = agentRuntimeConfig(config, name, "link");
  const { token, tokenId, tokenHash } = newAgentToken();
  await handleCommand(
    deps.store,
    runtimeDecider,
    streams.runtime(name),
    {
      type: "IssueAgentToken",
      runtime: name,
      tokenId,
      tokenHash,
      // Where the install YAML runs the agent from, and in: an upgrade names the same repository.
      agentImage: imageRepository(install.image ?? `${DEFAULT_AGENT_IMAGE_REPOSITORY}:${CURRENT_AGENT_VERSION}`),
      agentNamespace: install.namespace ?? DEFAULT_AGENT_NAMESPACE,
    },
    meta,
  );
  const serverUrl = deps.agentsUrl ?? "";
  return {
    runtime: name,
    token,
    tokenId,
    serverUrl,
    installManifest: agentInstallManifest({
      runtime: name,
      token,
      serverUrl,
      namespaces: deployNamespaces(config, runtime),
      management: runtime.spec.kubernetes?.management ?? "managed",
      ...install,
    }),
  };
}

/** A runtime with an agent of its own (not an extension), or why there is none to act on. */
function agentRuntimeConfig(config: ConfigState, name: string, verb: string): StoredConfig<"runtime"> {
  const runtime = getConfig(config, "runtime", name);
  if (!runtime) throw notFound("runtime.not_found", `runtime "${name}" does not exist`);
  if (runtime.spec.extension)
    throw conflict(
      "runtime.is_extension",
      `runtime "${name}" is an extension; ${verb} its proxy runtime "${runtime.spec.extension.proxyRuntime.runtime}" instead`,
    );
  return runtime;
}

/** The longest a rotation's previous token may stay accepted. */
export const MAX_TOKEN_OVERLAP_SECONDS = 24 * 3600;
export const DEFAULT_TOKEN_OVERLAP_SECONDS = 600;

export type RotatedToken = {
  runtime: string;
  token: string;
  tokenId: string;
  tokenGeneration: number;
  rotatedAt: string;
  previousTokenId: string;
  previousTokenValidUntil: string;
  /** The agent's Secret, as the install YAML names it, and the key that holds the token. */
  secret: { namespace: string; name: string; key: "SLIPWAY_AGENT_TOKEN" };
  /** Put the new token into that Secret, then restart the agent so it connects with it. */
  commands: string[];
};

/**
 * A new agent token, while the one it replaces stays accepted for `overlapSeconds`: the agent is
 * restarted with the new token in that time and the runtime never drops. The runtime stays linked
 * and pinned, and the connected agent keeps its lease.
 */
export async function rotateAgentToken(
  deps: ApiDeps,
  name: string,
  overlapSeconds: number,
  meta: Metadata,
): Promise<RotatedToken> {
  agentRuntimeConfig(await readConfig(deps), name, "rotate the token of");
  const { token, tokenId, tokenHash } = newAgentToken();
  const { events, state } = await handleCommand(
    deps.store,
    runtimeDecider,
    streams.runtime(name),
    { type: "RotateAgentToken", runtime: name, tokenId, tokenHash, now: meta.occurredAt, overlapSeconds },
    meta,
  );
  const rotated = events.find((e) => e.type === "AgentTokenRotated");
  if (rotated?.type !== "AgentTokenRotated") throw new Error(`rotating the token of ${name} recorded no rotation`);
  const namespace = state.agentNamespace ?? DEFAULT_AGENT_NAMESPACE;
  const object = agentObjectName(name);
  const patch = JSON.stringify({ stringData: { SLIPWAY_AGENT_TOKEN: token } });
  return {
    runtime: name,
    token,
    tokenId,
    tokenGeneration: rotated.data.tokenGeneration,
    rotatedAt: rotated.data.rotatedAt,
    previousTokenId: rotated.data.previousTokenId,
    previousTokenValidUntil: rotated.data.previousTokenValidUntil,
    secret: { namespace, name: object, key: "SLIPWAY_AGENT_TOKEN" },
    commands: [
      `kubectl patch secret ${object} -n ${namespace} --type merge -p '${patch}'`,
      `kubectl rollout restart deployment/${object} -n ${namespace}`,
    ],
  };
}

export type RevokedTokens = {
  runtime: string;
  scope: "all" | "previous";
  /** False when there was nothing to revoke (already revoked, never linked, or no overlap running). */
  changed: boolean;
  tokens: { tokenId: string; tokenGeneration: number }[];
  /** The agent connection that lost its lease, if one did. */
  disconnected?: string;
};

/**
 * Ends agent tokens at once: every token of the runtime (`all`: its agent is disconnected and it
 * must be linked again), or only the previous one of a rotation (`previous`: the overlap ends now;
 * an agent connected with it is disconnected). Revoking what is not there changes nothing.
 */
export async function revokeAgentTokens(
  deps: ApiDeps,
  name: string,
  scope: "all" | "previous",
  meta: Metadata,
): Promise<RevokedTokens> {
  agentRuntimeConfig(await readConfig(deps), name, "revoke the tokens of");
  const { events } = await handleCommand(
    deps.store,
    runtimeDecider,
    streams.runtime(name),
    { type: "RevokeAgentTokens", runtime: name, scope, now: meta.occurredAt },
    meta,
  );
  const revoked = events.find((e) => e.type === "AgentTokensRevoked");
  const disconnected = events.find((e) => e.type === "AgentDisconnected");
  return {
    runtime: name,
    scope,
    changed: revoked !== undefined,
    tokens: revoked?.type === "AgentTokensRevoked" ? revoked.data.tokens : [],
    ...(disconnected?.type === "AgentDisconnected" ? { disconnected: disconnected.data.connectionId } : {}),
  };
}

/** The namespaces a runtime's agent deploys to: those its config lists, and its extensions' jobs'. */
function deployNamespaces(config: ConfigState, runtime: StoredConfig<"runtime">): string[] {
  const listed = runtime.spec.kubernetes?.namespaces ?? [];
  const extensions = listConfigs(config, "runtime").flatMap((r) =>
    r.spec.extension?.proxyRuntime.runtime === runtime.name && r.spec.extension.proxyRuntime.namespace
      ? [r.spec.extension.proxyRuntime.namespace]
      : [],
  );
  return [...new Set([...listed, ...extensions])];
}

export type RuntimeStatus = Omit<RuntimeStatusView, "runtime">;
export type RuntimeListItem = RuntimeStatus & {
  name: string;
  type: RuntimeType;
  connected: boolean;
  /** Who keeps its agent current (an extension's is its proxy runtime's). */
  management: "managed" | "external";
  /** The connected agent is older than latestAgentVersion (and still supported). */
  upgradeAvailable: boolean;
  latestAgentVersion: string;
  proxyRuntime?: string;
  running?: Omit<ObservedService, "runtime">[];
  stateReportedAt?: string;
};

/** Every runtime: linked or not, agent connected, agent version, and what its agent last said runs there. */
export async function listRuntimes(deps: ApiDeps): Promise<RuntimeListItem[]> {
  const config = await readConfig(deps);
  return Promise.all(listConfigs(config, "runtime").map((r) => runtimeItem(deps, config, r)));
}

/** One runtime as listRuntimes shows it. */
export async function getRuntime(deps: ApiDeps, name: string): Promise<RuntimeListItem> {
  const config = await readConfig(deps);
  const runtime = getConfig(config, "runtime", name);
  if (!runtime) throw notFound("runtime.not_found", `runtime "${name}" does not exist`);
  return runtimeItem(deps, config, runtime);
}

/** What `?wait=` can wait for: an agent that has registered since the last link, or one connected now. */
export type RuntimeCondition = "linked" | "connected";

/** How often a wait looks again (each look reads the runtime's stream, as GET /v1/runtimes/{name} does). */
const WAIT_POLL_MS = 500;

/**
 * One runtime, once `condition` holds or `timeoutMs` passed (then runtime.wait_timeout, naming
 * where it stands): infrastructure code links a runtime, installs the agent, and waits here.
 */
export async function waitForRuntime(
  deps: ApiDeps,
  name: string,
  condition: RuntimeCondition,
  timeoutMs: number,
): Promise<RuntimeListItem> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const runtime = await getRuntime(deps, name);
    if (condition === "linked" ? runtime.linked : runtime.connected) return runtime;
    if (Date.now() >= deadline)
      throw timedOut(
        "runtime.wait_timeout",
        `runtime "${name}" is not ${condition} after ${Math.round(timeoutMs / 1000)} s (${
          runtime.linked ? `linked, agent ${runtime.status}` : "no agent has registered since it was linked"
        }); ask again to go on waiting`,
      );
    await new Promise((r) => setTimeout(r, Math.min(WAIT_POLL_MS, Math.max(0, deadline - Date.now()))));
  }
}

async function runtimeItem(deps: ApiDeps, config: ConfigState, r: StoredConfig<"runtime">): Promise<RuntimeListItem> {
  // An extension runs through its proxy runtime's agent: its status is the proxy's.
  const agentRuntime = r.spec.extension?.proxyRuntime.runtime ?? r.name;
  const [history, observed] = await Promise.all([
    deps.store.read(streams.runtime(agentRuntime)),
    deps.readModels.observedState(agentRuntime),
  ]);
  const { runtime: _r, ...view } = runtimeStatusView(
    agentRuntime,
    history,
    nowOf(deps).toISOString(),
    deps.agentGraceSeconds ?? 180,
  );
  // The proxy's agent reports for its extensions too, each service under the runtime its instruction named.
  const running = observed?.services
    .filter((s) => (s.runtime ?? agentRuntime) === r.name)
    .map(({ runtime: _, ...s }) => s);
  const agentConfig = agentRuntime === r.name ? r : getConfig(config, "runtime", agentRuntime);
  return {
    name: r.name,
    type: runtimeType(r.spec),
    connected: view.status === "connected",
    management: agentConfig?.spec.kubernetes?.management ?? "managed",
    upgradeAvailable: agentUpgradeAvailable(view.agentVersion, CURRENT_AGENT_VERSION, deps.agentSupportedMinors),
    latestAgentVersion: CURRENT_AGENT_VERSION,
    ...view,
    ...(r.spec.extension ? { proxyRuntime: agentRuntime } : {}),
    ...(observed ? { running, stateReportedAt: observed.reportedAt } : {}),
  };
}

/**
 * The payload of an instruction too large for one WebSocket message. Only the agent of the
 * instruction's runtime may fetch it, with its own agent token (or, during a rotation's overlap,
 * the previous one).
 */
export async function instructionPayload(
  deps: ApiDeps,
  instructionId: string,
  agentToken: string,
): Promise<{ instructionId: string; payload: InstructionPayload }> {
  const target = parseInstructionId(instructionId);
  if (!target) throw notFound("instruction.not_found", `instruction ${instructionId} does not exist`);
  const agentRuntime = agentRuntimeOf(await readConfig(deps), target.runtime);
  const runtime = (await readState(deps.store, runtimeDecider, streams.runtime(agentRuntime))).state;
  authenticateAgent(runtime, agentRuntime, sha256(agentToken), nowOf(deps).toISOString());
  const dispatched = (await deps.store.read(streams.channel(target.application, target.channel))).find(
    (e) => e.type === "InstructionDispatched" && e.data.instructionId === instructionId,
  );
  if (dispatched?.type !== "InstructionDispatched")
    throw notFound("instruction.not_found", `instruction ${instructionId} does not exist`);
  return { instructionId, payload: dispatched.data.payload };
}
