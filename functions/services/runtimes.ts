import {
  agentInstallManifest,
  conflict,
  getConfig,
  listConfigs,
  notFound,
  parseInstructionId,
  runtimeDecider,
  runtimeStatusView,
  runtimeType,
  streams,
  timedOut,
  unauthorized,
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
import { newAgentToken, safeEqual, sha256 } from "./credentials.js";
import { nowOf, type ApiDeps } from "./deps.js";

/** Runtimes as operators see them: linking one to an agent, and whether its agent is there. */

export type LinkedRuntime = {
  runtime: string;
  token: string;
  tokenId: string;
  serverUrl: string;
  installManifest: string;
};

/** A fresh agent token and the Kubernetes YAML to run the agent; linking again rotates the token. */
export async function linkRuntime(
  deps: ApiDeps,
  name: string,
  meta: Metadata,
  install: AgentInstallOptions = {},
): Promise<LinkedRuntime> {
  const config = await readConfig(deps);
  const runtime = getConfig(config, "runtime", name);
  if (!runtime) throw notFound("runtime.not_found", `runtime "${name}" does not exist`);
  if (runtime.spec.extension)
    throw conflict(
      "runtime.is_extension",
      `runtime "${name}" is an extension; link its proxy runtime "${runtime.spec.extension.proxyRuntime.runtime}" instead`,
    );
  const { token, tokenId, tokenHash } = newAgentToken();
  await handleCommand(
    deps.store,
    runtimeDecider,
    streams.runtime(name),
    { type: "IssueAgentToken", runtime: name, tokenId, tokenHash },
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
      ...install,
    }),
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
  proxyRuntime?: string;
  running?: Omit<ObservedService, "runtime">[];
  stateReportedAt?: string;
};

/** Every runtime: linked or not, agent connected, agent version, and what its agent last said runs there. */
export async function listRuntimes(deps: ApiDeps): Promise<RuntimeListItem[]> {
  const config = await readConfig(deps);
  return Promise.all(listConfigs(config, "runtime").map((r) => runtimeItem(deps, r)));
}

/** One runtime as listRuntimes shows it. */
export async function getRuntime(deps: ApiDeps, name: string): Promise<RuntimeListItem> {
  const runtime = getConfig(await readConfig(deps), "runtime", name);
  if (!runtime) throw notFound("runtime.not_found", `runtime "${name}" does not exist`);
  return runtimeItem(deps, runtime);
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

async function runtimeItem(deps: ApiDeps, r: StoredConfig<"runtime">): Promise<RuntimeListItem> {
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
  return {
    name: r.name,
    type: runtimeType(r.spec),
    connected: view.status === "connected",
    ...view,
    ...(r.spec.extension ? { proxyRuntime: agentRuntime } : {}),
    ...(observed ? { running, stateReportedAt: observed.reportedAt } : {}),
  };
}

/**
 * The payload of an instruction too large for one WebSocket message. Only the agent of the
 * instruction's runtime may fetch it, with its own agent token.
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
  if (!runtime.token || !safeEqual(sha256(agentToken), runtime.token.tokenHash))
    throw unauthorized("agent.bad_token", `the agent token is not valid for runtime "${agentRuntime}"`);
  const dispatched = (await deps.store.read(streams.channel(target.application, target.channel))).find(
    (e) => e.type === "InstructionDispatched" && e.data.instructionId === instructionId,
  );
  if (dispatched?.type !== "InstructionDispatched")
    throw notFound("instruction.not_found", `instruction ${instructionId} does not exist`);
  return { instructionId, payload: dispatched.data.payload };
}
