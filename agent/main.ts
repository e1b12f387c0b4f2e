/**
 * `slipway-agent`: the reference agent's command line — `node agent.mjs` (the bundle `npm run
 * build:agent` writes), `npx slipway-agent` or `node agent/bin.mjs` from a checkout. Settings come
 * from flags or the environment the install YAML sets; see USAGE.
 */
import { createServer, type Server } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { Agent } from "./agent.js";
import { Cluster, describeError } from "./kube.js";
import { CURRENT_AGENT_VERSION } from "./protocol.js";
import { ConfigMapState, FileState } from "./state.js";

const USAGE = `slipway-agent ${CURRENT_AGENT_VERSION}: the Slipway agent for one runtime (a Kubernetes cluster).
It dials out to Slipway over a WebSocket, applies each instruction once, and reports back.

Usage: slipway-agent [options]

Options (each also read from the environment variable shown):
  --server <url>                  Slipway's agent WebSocket URL          SLIPWAY_SERVER_URL
  --runtime <name>                the runtime this agent runs            SLIPWAY_RUNTIME
  --token <token>                 the runtime's agent token              SLIPWAY_AGENT_TOKEN
  --state-file <path>             where applied instructions are kept    SLIPWAY_STATE_FILE
                                  (default: <tmp>/slipway-agent-<runtime>.json)
  --state-configmap <name>        keep them in this ConfigMap instead    SLIPWAY_STATE_CONFIGMAP
                                  (in the agent's namespace; written through the API server)
  --kubeconfig <path>             the cluster to apply to                SLIPWAY_KUBECONFIG
                                  (default: in a pod, its service account; else KUBECONFIG
                                  or ~/.kube/config)
  --https-proxy <url>             reach Slipway through this HTTP proxy  SLIPWAY_HTTPS_PROXY
                                  (a CONNECT tunnel; the API server is reached directly)
  --probe-port <port>             serve GET /healthz and /readyz here    SLIPWAY_PROBE_PORT
                                  (default: none; the install YAML uses 8080)
  --heartbeat-seconds <s>         how often to tell Slipway it is alive (default 60)
  --max-connection-seconds <s>    renew the connection this often (default 6600, under API Gateway's 2 h)
  -h, --help                      print this and exit
  -v, --version                   print the agent's version and exit

Upgrades: with SLIPWAY_DEPLOYMENT set (the install YAML of a managed runtime sets it, with
POD_NAMESPACE), the agent sets its own Deployment's image when Slipway announces a newer agent.

Probes: /healthz answers 200 while the process runs; /readyz answers 200 while the agent is
connected and holds the runtime's lease, 503 otherwise.

Exit codes: 0 stopped by SIGINT/SIGTERM; 1 its state could not be loaded; 2 bad usage; 3 gave up
because another agent keeps taking the runtime's lease.`;

function fail(message: string): never {
  console.error(`slipway-agent: ${message}\nRun slipway-agent --help for the options.`);
  process.exit(2);
}

let values: Record<string, string | boolean | undefined>;
try {
  ({ values } = parseArgs({
    options: {
      server: { type: "string" },
      runtime: { type: "string" },
      token: { type: "string" },
      "state-file": { type: "string" },
      "state-configmap": { type: "string" },
      kubeconfig: { type: "string" },
      "https-proxy": { type: "string" },
      "probe-port": { type: "string" },
      "heartbeat-seconds": { type: "string" },
      "max-connection-seconds": { type: "string" },
      help: { type: "boolean", short: "h" },
      version: { type: "boolean", short: "v" },
    },
  }));
} catch (err) {
  fail((err as Error).message);
}
if (values.help) {
  console.log(USAGE);
  process.exit(0);
}
if (values.version) {
  console.log(CURRENT_AGENT_VERSION);
  process.exit(0);
}

const setting = (flag: string, env: string): string | undefined => {
  const value = values[flag];
  return typeof value === "string" ? value : process.env[env] || undefined;
};
const seconds = (flag: string): number | undefined => {
  const value = values[flag];
  if (typeof value !== "string") return undefined;
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0) fail(`--${flag} must be a positive number of seconds, not "${value}"`);
  return n * 1000;
};

const serverUrl = setting("server", "SLIPWAY_SERVER_URL");
const runtime = setting("runtime", "SLIPWAY_RUNTIME");
const token = setting("token", "SLIPWAY_AGENT_TOKEN");
const missing = [
  !serverUrl && "--server (SLIPWAY_SERVER_URL)",
  !runtime && "--runtime (SLIPWAY_RUNTIME)",
  !token && "--token (SLIPWAY_AGENT_TOKEN)",
].filter(Boolean);
if (missing.length) fail(`missing ${missing.join(", ")}`);
const probe = setting("probe-port", "SLIPWAY_PROBE_PORT");
const probePort = probe === undefined ? undefined : Number(probe);
if (probePort !== undefined && (!Number.isInteger(probePort) || probePort < 0 || probePort > 65535))
  fail(`--probe-port must be a port number, not "${probe}"`);

const heartbeatMs = seconds("heartbeat-seconds");
const maxConnectionMs = seconds("max-connection-seconds");
const stateConfigMap = setting("state-configmap", "SLIPWAY_STATE_CONFIGMAP");
if (stateConfigMap !== undefined && !/^[a-z0-9]([a-z0-9.-]{0,251}[a-z0-9])?$/.test(stateConfigMap))
  fail(`--state-configmap must be a ConfigMap name, not "${stateConfigMap}"`);
let cluster: Cluster;
try {
  cluster = new Cluster(setting("kubeconfig", "SLIPWAY_KUBECONFIG"));
} catch (err) {
  fail(`cannot read the cluster's configuration: ${describeError(err)}`);
}
/** The agent's own namespace: the downward API's, else the service account's (or the kubeconfig's). */
const ownNamespace = process.env.POD_NAMESPACE || cluster.namespace;
const deployment = process.env.SLIPWAY_DEPLOYMENT || undefined;
const httpsProxy = setting("https-proxy", "SLIPWAY_HTTPS_PROXY");
if (httpsProxy !== undefined && !/^https?:\/\/[^/\s]+\/?$/.test(httpsProxy))
  fail(`--https-proxy must be a proxy URL such as http://proxy.internal:3128, not "${httpsProxy}"`);
const agent = new Agent({
  serverUrl: serverUrl!,
  runtime: runtime!,
  token: token!,
  state: stateConfigMap
    ? new ConfigMapState(cluster, stateConfigMap, ownNamespace)
    : new FileState(setting("state-file", "SLIPWAY_STATE_FILE") ?? join(tmpdir(), `slipway-agent-${runtime}.json`)),
  cluster,
  ...(deployment ? { self: { deployment, namespace: ownNamespace, container: "agent" } } : {}),
  ...(httpsProxy ? { httpsProxy } : {}),
  ...(heartbeatMs ? { heartbeatMs } : {}),
  // API Gateway closes connections after 2 hours; the agent opens its next one before that.
  ...(maxConnectionMs ? { maxConnectionMs } : {}),
  // Exiting makes the conflict visible (CrashLoopBackOff) instead of flapping quietly.
  onGiveUp: () => process.exit(3),
});

/** The kubelet's probes: alive while the process runs; ready while connected and holding the lease. */
function serveProbes(port: number): Server {
  const server = createServer((req, res) => {
    const path = (req.url ?? "").split("?")[0];
    const answer = (status: number, text: string) =>
      res.writeHead(status, { "content-type": "text/plain; charset=utf-8" }).end(`${text}\n`);
    if (req.method !== "GET" && req.method !== "HEAD") return answer(405, "method not allowed");
    if (path === "/healthz") return answer(200, "ok");
    if (path === "/readyz") return agent.ready ? answer(200, "ready") : answer(503, "not connected to Slipway");
    return answer(404, "not found: the probes are /healthz and /readyz");
  });
  server.on("error", (err) => {
    console.error(`slipway-agent: cannot serve probes on port ${port}: ${err.message}`);
    process.exit(2);
  });
  server.listen(port, () => {
    const address = server.address();
    console.log(
      `[slipway-agent ${runtime}] probes on port ${typeof address === "object" && address ? address.port : port}`,
    );
  });
  return server;
}

const probes = probePort === undefined ? undefined : serveProbes(probePort);
agent.start().catch((err: unknown) => {
  // Without what it remembers it could apply an instruction twice: better not to start.
  console.error(`slipway-agent: cannot load the agent's state: ${describeError(err)}`);
  process.exit(1);
});
for (const signal of ["SIGINT", "SIGTERM"] as const)
  process.once(signal, () => {
    probes?.close();
    void agent.stop().then(() => process.exit(0));
  });
