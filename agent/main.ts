/**
 * `npx slipway-agent` (or `node agent/bin.mjs`): the reference agent. Settings come from flags or
 * the environment the install YAML sets: --server / SLIPWAY_SERVER_URL, --runtime / SLIPWAY_RUNTIME,
 * --token / SLIPWAY_AGENT_TOKEN, --state-file / SLIPWAY_STATE_FILE, --kubectl / SLIPWAY_KUBECTL.
 */
import { parseArgs } from "node:util";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Agent } from "./agent.js";

const { values } = parseArgs({
  options: {
    server: { type: "string" },
    runtime: { type: "string" },
    token: { type: "string" },
    "state-file": { type: "string" },
    kubectl: { type: "string" },
    "heartbeat-seconds": { type: "string" },
    "max-connection-seconds": { type: "string" },
  },
});

const serverUrl = values.server ?? process.env.SLIPWAY_SERVER_URL;
const runtime = values.runtime ?? process.env.SLIPWAY_RUNTIME;
const token = values.token ?? process.env.SLIPWAY_AGENT_TOKEN;
const missing = [
  !serverUrl && "--server (SLIPWAY_SERVER_URL)",
  !runtime && "--runtime (SLIPWAY_RUNTIME)",
  !token && "--token (SLIPWAY_AGENT_TOKEN)",
].filter(Boolean);
if (missing.length) {
  console.error(`slipway-agent: missing ${missing.join(", ")}`);
  process.exit(2);
}

const agent = new Agent({
  serverUrl: serverUrl!,
  runtime: runtime!,
  token: token!,
  stateFile: values["state-file"] ?? process.env.SLIPWAY_STATE_FILE ?? join(tmpdir(), `slipway-agent-${runtime}.json`),
  ...((values.kubectl ?? process.env.SLIPWAY_KUBECTL)
    ? { kubectl: values.kubectl ?? process.env.SLIPWAY_KUBECTL }
    : {}),
  ...(values["heartbeat-seconds"] ? { heartbeatMs: Number(values["heartbeat-seconds"]) * 1000 } : {}),
  // API Gateway closes connections after 2 hours; the agent opens its next one before that.
  ...(values["max-connection-seconds"] ? { maxConnectionMs: Number(values["max-connection-seconds"]) * 1000 } : {}),
  // Exiting makes the conflict visible (CrashLoopBackOff) instead of flapping quietly.
  onGiveUp: () => process.exit(3),
});
agent.start();
for (const signal of ["SIGINT", "SIGTERM"] as const)
  process.once(signal, () => void agent.stop().then(() => process.exit(0)));
