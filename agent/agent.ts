import { spawn } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { dirname } from "node:path";
import WebSocket from "ws";
import { parseAllDocuments } from "yaml";
import { CURRENT_AGENT_VERSION, InstructionMessage, type InstructionPayload } from "./protocol.js";
import { get, proxyAgent } from "./proxy.js";

/**
 * The reference agent: runs in a runtime (a Kubernetes cluster), holds one WebSocket to Slipway,
 * applies each instruction exactly once per id — remembered on disk across restarts — and reports
 * progress and outcome. See docs/agent-protocol.md.
 */

export type AgentConfig = {
  serverUrl: string;
  runtime: string;
  token: string;
  /** Where finished instruction ids are remembered, so a restart never applies one twice. */
  stateFile: string;
  kubectl?: string;
  /** An HTTP proxy to reach Slipway through (a CONNECT tunnel); kubectl is not affected. */
  httpsProxy?: string;
  heartbeatMs?: number;
  /** Reconnect before API Gateway's 2-hour limit. */
  maxConnectionMs?: number;
  rolloutTimeoutSeconds?: number;
  /** A connection that stays up this long resets the back-off and the supersession count. */
  stableMs?: number;
  /** Called when the agent gives up because another agent keeps taking the lease. */
  onGiveUp?: (reason: string) => void;
  log?: (line: string) => void;
};

type Outcome = { status: "succeeded" | "failed"; message: string };
type Done = Record<string, Outcome>;
type Workload = { name: string; namespace?: string };
/** What the agent last applied per service, to report (checked against the cluster) on every connect. */
type Running = Record<
  string,
  { service: string; runtime: string; releaseId: string; images: string[]; deployments: Workload[] }
>;
type StateFile = { done: Done; running: Running };

const BACKOFF_START_MS = 1000;
const BACKOFF_FACTOR = 1.6;
const BACKOFF_MAX_MS = 120_000;
const OUTPUT_TAIL = 4000;
/** Superseded this many times in a row (without a stable connection in between), the agent gives up. */
export const MAX_SUPERSESSIONS = 3;

/** Exponential back-off with full jitter: 1 s × 1.6ⁿ, capped at about 2 minutes. */
export function backoffMs(attempt: number, random = Math.random): number {
  const ceiling = Math.min(BACKOFF_MAX_MS, BACKOFF_START_MS * BACKOFF_FACTOR ** attempt);
  return Math.round(ceiling / 2 + random() * (ceiling / 2));
}

export class Agent {
  private socket?: WebSocket;
  private stopped = false;
  private attempt = 0;
  private supersessions = 0;
  private readonly inFlight = new Set<string>();
  /** Connections this agent replaced itself, before the 2-hour limit: losing their lease is expected. */
  private readonly renewed = new WeakSet<WebSocket>();
  /** Connections the server said another agent's lease has replaced. */
  private readonly fenced = new WeakSet<WebSocket>();
  private done: Done;
  private running: Running;
  private timers: NodeJS.Timeout[] = [];
  private readonly log: (line: string) => void;

  constructor(private readonly config: AgentConfig) {
    this.log = config.log ?? ((line) => console.log(`[slipway-agent ${config.runtime}] ${line}`));
    const saved = existsSync(config.stateFile)
      ? (JSON.parse(readFileSync(config.stateFile, "utf8")) as Partial<StateFile>)
      : {};
    this.done = saved.done ?? {};
    this.running = saved.running ?? {};
  }

  start(): void {
    void this.connect();
  }

  /** The cluster this agent runs in, once read; the server pins the runtime to it. */
  private cluster?: { id: string; serverVersion?: string };

  /**
   * Reads which cluster this is: the kube-system namespace's UID (unique per cluster, stable for its
   * life) and the API server's version. Without it the agent still connects — a runtime pinned to
   * a cluster then refuses it with 409, saying why.
   */
  private async clusterIdentity(): Promise<{ id: string; serverVersion?: string } | undefined> {
    if (this.cluster) return this.cluster;
    const kubectl = this.config.kubectl ?? "kubectl";
    const uid = await run(kubectl, ["get", "namespace", "kube-system", "-o", "jsonpath={.metadata.uid}"]);
    const id = uid.output.trim();
    if (uid.code !== 0 || !/^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$/.test(id)) {
      this.log(`cannot tell which cluster this is (kubectl get namespace kube-system): ${tail(uid.output)}`);
      return undefined;
    }
    const version = await run(kubectl, ["version", "-o", "json"]);
    let serverVersion: string | undefined;
    try {
      serverVersion = (JSON.parse(version.output) as { serverVersion?: { gitVersion?: string } }).serverVersion
        ?.gitVersion;
    } catch {
      serverVersion = undefined;
    }
    this.cluster = { id, ...(serverVersion && serverVersion.length <= 64 ? { serverVersion } : {}) };
    return this.cluster;
  }

  /** Ready: connected to Slipway and holding the runtime's lease (no other agent has taken it since). */
  get ready(): boolean {
    return this.socket?.readyState === WebSocket.OPEN && !this.fenced.has(this.socket);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    for (const t of this.timers) clearTimeout(t);
    const ws = this.socket;
    if (ws && ws.readyState !== WebSocket.CLOSED)
      await new Promise<void>((resolve) => (ws.once("close", () => resolve()), ws.close(1000, "agent stopping")));
  }

  private async connect(): Promise<void> {
    if (this.stopped) return;
    const cluster = await this.clusterIdentity();
    if (this.stopped) return;
    const url = `${this.config.serverUrl}?runtime=${encodeURIComponent(this.config.runtime)}`;
    const proxy = this.config.httpsProxy;
    const ws = new WebSocket(url, {
      ...(proxy ? { agent: proxyAgent(proxy, url.startsWith("wss:")) } : {}),
      headers: {
        authorization: `Bearer ${this.config.token}`,
        "x-slipway-agent-version": CURRENT_AGENT_VERSION,
        ...(cluster
          ? {
              "x-slipway-cluster-id": cluster.id,
              ...(cluster.serverVersion ? { "x-slipway-cluster-version": cluster.serverVersion } : {}),
            }
          : {}),
      },
    });
    let opened = false;
    ws.on("open", () => {
      opened = true;
      this.socket = ws;
      // Back-off and supersessions reset only once a connection has proved stable, so that two
      // agents fighting over one runtime slow down instead of trading the lease every second.
      const stable = setTimeout(() => {
        this.attempt = 0;
        this.supersessions = 0;
      }, this.config.stableMs ?? 60_000);
      ws.once("close", () => clearTimeout(stable));
      this.log(`connected to ${this.config.serverUrl}`);
      void this.reportState(ws);
      const heartbeat = setInterval(() => this.send(ws, { action: "heartbeat" }), this.config.heartbeatMs ?? 60_000);
      const renew = setTimeout(
        () => {
          // Open the next connection first: it takes the lease, then this one is closed.
          this.log("renewing the connection before the 2-hour limit");
          this.renewed.add(ws);
          void this.connect();
          setTimeout(() => ws.close(1000, "renewed"), 5000).unref();
        },
        this.config.maxConnectionMs ?? 110 * 60 * 1000,
      );
      ws.once("close", () => {
        clearInterval(heartbeat);
        clearTimeout(renew);
      });
    });
    ws.on("unexpected-response", (_req, res) => {
      let body = "";
      res.on("data", (d: Buffer) => (body += d.toString()));
      res.on("end", () => this.log(`connection refused (${res.statusCode}): ${body}`));
    });
    ws.on("message", (data) => void this.receive(ws, data.toString()));
    ws.on("error", (err) => this.log(`connection error: ${err.message}`));
    ws.on("close", (code, reason) => {
      if (this.socket === ws) this.socket = undefined;
      if (opened) this.log(`connection closed (${code}${reason.length ? ` ${reason.toString()}` : ""})`);
      // A renewed connection has already replaced this one; otherwise back off and come back.
      if (this.stopped || (this.socket && this.socket !== ws)) return;
      const delay = backoffMs(this.attempt++);
      this.log(`reconnecting in ${delay} ms`);
      this.timers.push(setTimeout(() => void this.connect(), delay));
    });
  }

  private send(ws: WebSocket, message: object): void {
    if (ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify(message));
  }

  private async receive(ws: WebSocket, text: string): Promise<void> {
    let message: { type?: string; code?: string; message?: string };
    try {
      message = JSON.parse(text) as typeof message;
    } catch {
      return this.log("ignoring a message that is not JSON");
    }
    if (message.type === "error") {
      this.log(`server refused a message (${message.code}): ${message.message}`);
      const retry = (message as { instructionId?: string }).instructionId;
      const outcome = retry ? this.done[retry] : undefined;
      if (message.code === "stream.conflict" && retry && outcome) {
        this.timers.push(
          setTimeout(
            () =>
              this.send(this.socket ?? ws, {
                action: "report",
                instructionId: retry,
                status: outcome.status,
                message: outcome.message,
              }),
            200 + Math.random() * 800,
          ),
        );
        return;
      }
      // Another agent holds the lease: leave, come back only after backing off, and after losing
      // it MAX_SUPERSESSIONS times in a row give up, so the two agents cannot flap forever.
      if (message.code === "agent.fenced" || message.code === "agent.superseded") {
        this.fenced.add(ws);
        if (this.renewed.has(ws)) return void ws.close(1000, "renewed");
        this.supersessions += 1;
        if (this.supersessions >= MAX_SUPERSESSIONS) {
          const reason = `another agent keeps taking the lease of runtime "${this.config.runtime}" (${this.supersessions} times in a row); giving up — run one agent per runtime`;
          this.log(reason);
          void this.stop().then(() => this.config.onGiveUp?.(reason));
          return;
        }
        ws.close(4001, "superseded");
      }
      return;
    }
    if (message.type !== "instruction") return;
    const parsed = InstructionMessage.safeParse(message);
    if (!parsed.success) return this.log("ignoring a malformed instruction");
    await this.handle(ws, parsed.data);
  }

  private async handle(ws: WebSocket, instruction: InstructionMessage): Promise<void> {
    const id = instruction.instructionId;
    const lease = { leaseGeneration: instruction.leaseGeneration };
    this.send(ws, { action: "ack", instructionId: id, ...lease });
    const previous = this.done[id];
    if (previous) {
      // Already applied (before a reconnect or a restart): report the same outcome, apply nothing.
      this.send(ws, {
        action: "report",
        instructionId: id,
        status: previous.status,
        message: previous.message,
        ...lease,
      });
      return;
    }
    if (this.inFlight.has(id)) return;
    this.inFlight.add(id);
    try {
      this.send(ws, { action: "report", instructionId: id, status: "applying", ...lease });
      const payload = instruction.payload ?? (await this.fetchPayload(instruction.payloadUrl!));
      this.log(`applying ${id} (release ${instruction.releaseId} of ${instruction.service} to ${instruction.channel})`);
      const outcome = await this.apply(payload);
      if (outcome.status === "succeeded") {
        const deployments =
          payload.kind === "extensionTask" ? [] : workloadsOf(payload.manifests.join("\n---\n"), "Deployment");
        this.running[`${instruction.runtime}/${instruction.service}`] = {
          service: instruction.service,
          runtime: instruction.runtime,
          releaseId: instruction.releaseId,
          images: imagesOf(payload),
          deployments,
        };
      }
      this.remember(id, outcome);
      this.log(`${id} ${outcome.status}`);
      // The connection may have been renewed while applying: report on the current one.
      const current = this.socket ?? ws;
      this.send(current, { action: "report", instructionId: id, status: outcome.status, message: outcome.message });
      await this.reportState(current);
    } finally {
      this.inFlight.delete(id);
    }
  }

  private async fetchPayload(url: string): Promise<InstructionPayload> {
    const res = await get(url, { authorization: `Bearer ${this.config.token}` }, this.config.httpsProxy);
    if (res.status !== 200) throw new Error(`fetching the instruction failed with ${res.status}`);
    return (JSON.parse(res.body) as { payload: InstructionPayload }).payload;
  }

  /**
   * Tells the server what runs now: every service this agent has applied, with the images and
   * health its Deployments have in the cluster at this moment (`kubectl get`), so drift and manual
   * changes show. A Deployment that cannot be read counts as unhealthy.
   */
  private async reportState(ws: WebSocket): Promise<void> {
    const kubectl = this.config.kubectl ?? "kubectl";
    const services = await Promise.all(
      Object.values(this.running).map(async ({ service, runtime, releaseId, images, deployments }) => {
        if (!deployments.length) return { service, runtime, releaseId, images, healthy: true };
        const observed = await Promise.all(
          deployments.map(async (d) =>
            deploymentStatus(
              await run(kubectl, [
                "get",
                `deployment/${d.name}`,
                "-o",
                `jsonpath=${DEPLOYMENT_STATUS}`,
                ...(d.namespace ? ["-n", d.namespace] : []),
              ]),
            ),
          ),
        );
        return {
          service,
          runtime,
          releaseId,
          images: observed.flatMap((o) => o.images),
          healthy: observed.every((o) => o.healthy),
        };
      }),
    );
    this.send(ws, { action: "state", services });
  }

  private remember(id: string, outcome: Outcome): void {
    this.done[id] = outcome;
    mkdirSync(dirname(this.config.stateFile), { recursive: true });
    writeFileSync(
      `${this.config.stateFile}.tmp`,
      JSON.stringify({ done: this.done, running: this.running } satisfies StateFile),
    );
    renameSync(`${this.config.stateFile}.tmp`, this.config.stateFile);
  }

  private async apply(payload: InstructionPayload): Promise<Outcome> {
    const kubectl = this.config.kubectl ?? "kubectl";
    const timeout = `${this.config.rolloutTimeoutSeconds ?? 600}s`;
    if (payload.kind === "extensionTask") {
      const env = {
        ...process.env,
        ...payload.env,
        ...Object.fromEntries(
          Object.entries(payload.params).map(([k, v]) => [`SLIPWAY_PARAM_${k.toUpperCase()}`, String(v)]),
        ),
      };
      return outcomeOf(await run(payload.cmd[0]!, payload.cmd.slice(1), { env }));
    }
    const manifests = payload.manifests.join("\n---\n");
    const applied = await run(
      kubectl,
      [
        "apply",
        "--server-side",
        "--field-manager=slipway-agent",
        "-f",
        "-",
        ...(payload.kind === "extensionJob" && payload.namespace ? ["-n", payload.namespace] : []),
      ],
      { input: manifests },
    );
    if (applied.code !== 0) return outcomeOf(applied);
    const waits = workloadsOf(manifests, payload.kind === "extensionJob" ? "Job" : "Deployment");
    for (const w of waits) {
      const args =
        payload.kind === "extensionJob"
          ? ["wait", "--for=condition=complete", `job/${w.name}`, `--timeout=${timeout}`]
          : ["rollout", "status", `deployment/${w.name}`, `--timeout=${timeout}`];
      const result = await run(kubectl, [...args, ...(w.namespace ? ["-n", w.namespace] : [])]);
      if (result.code !== 0) return outcomeOf(result);
    }
    return {
      status: "succeeded",
      message: waits.length ? `rolled out ${waits.map((w) => w.name).join(", ")}` : tail(applied.output) || "applied",
    };
  }
}

type RunResult = { code: number; output: string };

function run(
  command: string,
  args: string[],
  options: { input?: string; env?: NodeJS.ProcessEnv } = {},
): Promise<RunResult> {
  return new Promise((resolve) => {
    const child = spawn(command, args, {
      env: options.env ?? process.env,
      stdio: [options.input === undefined ? "ignore" : "pipe", "pipe", "pipe"],
    });
    let output = "";
    const collect = (d: Buffer) => (output = (output + d.toString()).slice(-OUTPUT_TAIL * 2));
    child.stdout!.on("data", collect);
    child.stderr!.on("data", collect);
    child.on("error", (err) => resolve({ code: 127, output: `${command}: ${err.message}` }));
    child.on("close", (code) => resolve({ code: code ?? 1, output }));
    if (child.stdin) {
      // A program that exits without reading its input must not take the agent down with EPIPE.
      child.stdin.on("error", () => undefined);
      child.stdin.end(options.input);
    }
  });
}

function tail(text: string): string {
  return text.trim().slice(-OUTPUT_TAIL);
}

function outcomeOf(result: RunResult): Outcome {
  return result.code === 0
    ? { status: "succeeded", message: tail(result.output) || "exit code 0" }
    : { status: "failed", message: `exit code ${result.code}: ${tail(result.output)}` };
}

/** Desired, updated and available replicas, then the images: small enough for any output tail. */
const DEPLOYMENT_STATUS =
  "{.spec.replicas}|{.status.updatedReplicas}|{.status.availableReplicas}|{.spec.template.spec.containers[*].image}";

/** A Deployment is healthy when every desired replica is updated and available. */
function deploymentStatus(result: RunResult): { images: string[]; healthy: boolean } {
  const fields = result.output.trim().split("|");
  if (result.code !== 0 || fields.length !== 4) return { images: [], healthy: false };
  const [desired, updated, available] = fields.slice(0, 3).map((f) => Number(f || 0)) as [number, number, number];
  const want = fields[0] ? desired : 1;
  return { images: fields[3]!.split(/\s+/).filter(Boolean), healthy: updated >= want && available >= want };
}

function workloadsOf(manifests: string, kind: string): Workload[] {
  const docs = parseAllDocuments(manifests);
  return (Array.isArray(docs) ? docs : []).flatMap((d) => {
    const m = d.toJS() as { kind?: string; metadata?: { name?: string; namespace?: string } } | null;
    return m?.kind === kind && m.metadata?.name
      ? [{ name: m.metadata.name, ...(m.metadata.namespace ? { namespace: m.metadata.namespace } : {}) }]
      : [];
  });
}

function imagesOf(payload: InstructionPayload): string[] {
  if (payload.kind === "extensionTask") return payload.image ? [payload.image] : [];
  return [...payload.manifests.join("\n").matchAll(/image:\s*"?([^"\s]+)"?/g)].map((m) => m[1]!);
}
