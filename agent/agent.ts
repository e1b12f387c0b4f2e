import { spawn } from "node:child_process";
import WebSocket from "ws";
import { parseAllDocuments } from "yaml";
import { describeError, OUTPUT_TAIL, tail, type Cluster, type Manifest, type Outcome } from "./kube.js";
import { CURRENT_AGENT_VERSION, InstructionMessage, UpgradeMessage, type InstructionPayload } from "./protocol.js";
import { get, proxyAgent } from "./proxy.js";
import type { AgentState, StateStore, Workload } from "./state.js";

/**
 * The reference agent: runs in a runtime (a Kubernetes cluster), holds one WebSocket to Slipway,
 * applies each instruction exactly once per id — remembered across restarts in its state store —
 * through the cluster's API server, and reports progress and outcome. See docs/agent-protocol.md.
 */

export type AgentConfig = {
  serverUrl: string;
  runtime: string;
  token: string;
  /** Where finished instruction ids are remembered, so a restart never applies one twice. */
  state: StateStore;
  /** The cluster's API server. */
  cluster: Cluster;
  /** The agent's own Deployment, which it may set a newer image on when Slipway announces one (managed runtimes). */
  self?: { deployment: string; namespace: string; container: string };
  /** An HTTP proxy to reach Slipway through (a CONNECT tunnel); the API server is reached directly. */
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

const BACKOFF_START_MS = 1000;
const BACKOFF_FACTOR = 1.6;
const BACKOFF_MAX_MS = 120_000;
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
  private state: AgentState = { done: {}, running: {} };
  private timers: NodeJS.Timeout[] = [];
  private readonly log: (line: string) => void;

  constructor(private readonly config: AgentConfig) {
    this.log = config.log ?? ((line) => console.log(`[slipway-agent ${config.runtime}] ${line}`));
  }

  /** Loads what it remembers, then connects (and keeps reconnecting until stopped). */
  async start(): Promise<void> {
    this.state = await this.config.state.load();
    this.log(`remembering ${Object.keys(this.state.done).length} finished instructions (${this.config.state.where})`);
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
    try {
      this.cluster = await this.config.cluster.identity();
    } catch (err) {
      this.log(`cannot tell which cluster this is (reading namespace kube-system): ${describeError(err)}`);
    }
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
    // A message it could not act on (the payload fetch failed, say) is logged and left unfinished:
    // Slipway sends it again when this agent reconnects. It never takes the agent down.
    ws.on("message", (data) => {
      this.receive(ws, data.toString()).catch((err: unknown) =>
        this.log(`could not act on a message from Slipway: ${describeError(err)}`),
      );
    });
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
      const outcome = retry ? this.state.done[retry] : undefined;
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
    if (message.type === "upgrade") {
      const upgrade = UpgradeMessage.safeParse(message);
      return upgrade.success ? this.upgrade(upgrade.data) : this.log("ignoring a malformed upgrade");
    }
    if (message.type !== "instruction") return;
    const parsed = InstructionMessage.safeParse(message);
    if (!parsed.success) return this.log("ignoring a malformed instruction");
    await this.handle(ws, parsed.data);
  }

  /** The image this agent already set on its Deployment: an announcement repeated on reconnect is not acted on twice. */
  private upgradingTo?: string;

  /**
   * Slipway announces a newer agent (managed runtimes only): the agent sets that image on its own
   * Deployment, Kubernetes replaces the pod (Recreate), and the new agent takes the lease.
   */
  private async upgrade({ version, image }: UpgradeMessage): Promise<void> {
    const self = this.config.self;
    if (!self)
      return this.log(
        `Slipway offers agent ${version} (${image}); this agent does not manage its own Deployment (SLIPWAY_DEPLOYMENT is not set) — upgrade it yourself`,
      );
    if (this.upgradingTo === image) return;
    this.upgradingTo = image;
    this.log(
      `upgrading from ${CURRENT_AGENT_VERSION} to ${version}: setting deployment/${self.deployment} to ${image}`,
    );
    try {
      await this.config.cluster.setImage(self.deployment, self.namespace, self.container, image);
    } catch (err) {
      this.upgradingTo = undefined;
      this.log(`upgrade to ${version} failed: ${describeError(err)}`);
    }
  }

  private async handle(ws: WebSocket, instruction: InstructionMessage): Promise<void> {
    const id = instruction.instructionId;
    const lease = { leaseGeneration: instruction.leaseGeneration };
    this.send(ws, { action: "ack", instructionId: id, ...lease });
    const previous = this.state.done[id];
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
      const { outcome, deployments } = await this.apply(payload);
      if (outcome.status === "succeeded")
        this.state.running[`${instruction.runtime}/${instruction.service}`] = {
          service: instruction.service,
          runtime: instruction.runtime,
          releaseId: instruction.releaseId,
          images: imagesOf(payload),
          deployments,
        };
      await this.remember(id, outcome);
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
   * health its Deployments have in the cluster at this moment, so drift and manual changes show. A
   * Deployment that cannot be read counts as unhealthy.
   */
  private async reportState(ws: WebSocket): Promise<void> {
    const services = await Promise.all(
      Object.values(this.state.running).map(async ({ service, runtime, releaseId, images, deployments }) => {
        if (!deployments.length) return { service, runtime, releaseId, images, healthy: true };
        const observed = await Promise.all(
          deployments.map((d) => this.config.cluster.deployment(d.name, d.namespace ?? this.config.cluster.namespace)),
        );
        return {
          service,
          runtime,
          releaseId,
          images: observed.flatMap((o) => o?.images ?? []),
          healthy: observed.every((o) => o?.healthy === true),
        };
      }),
    );
    this.send(ws, { action: "state", services });
  }

  /** Records an outcome before it is reported: a failed save is logged, and the report still goes. */
  private async remember(id: string, outcome: Outcome): Promise<void> {
    this.state.done[id] = { ...outcome, at: new Date().toISOString() };
    try {
      await this.config.state.save(this.state);
    } catch (err) {
      this.log(`cannot save the agent's state (${this.config.state.where}): ${describeError(err)}`);
    }
  }

  /**
   * Applies an instruction: Kubernetes manifests are server-side applied, then their Deployments'
   * rollouts (or an extension's Jobs) are waited for; an extension task runs as a process.
   */
  private async apply(payload: InstructionPayload): Promise<{ outcome: Outcome; deployments: Workload[] }> {
    const timeoutMs = (this.config.rolloutTimeoutSeconds ?? 600) * 1000;
    if (payload.kind === "extensionTask") {
      const env = {
        ...process.env,
        ...payload.env,
        ...Object.fromEntries(
          Object.entries(payload.params).map(([k, v]) => [`SLIPWAY_PARAM_${k.toUpperCase()}`, String(v)]),
        ),
      };
      return { outcome: outcomeOf(await run(payload.cmd[0]!, payload.cmd.slice(1), { env })), deployments: [] };
    }
    const cluster = this.config.cluster;
    let applied: Manifest[];
    try {
      applied = await cluster.apply(
        manifestsOf(payload.manifests),
        payload.kind === "extensionJob" && payload.namespace ? payload.namespace : cluster.namespace,
      );
    } catch (err) {
      return { outcome: { status: "failed", message: tail(describeError(err)) }, deployments: [] };
    }
    const wait = payload.kind === "extensionJob" ? "Job" : "Deployment";
    const waits = applied.flatMap((m) =>
      m.kind === wait && m.metadata?.name
        ? [{ name: m.metadata.name, namespace: m.metadata.namespace ?? cluster.namespace }]
        : [],
    );
    const deployments = wait === "Deployment" ? waits : [];
    const messages: string[] = [];
    for (const w of waits) {
      const outcome =
        wait === "Job"
          ? await cluster.job(w.name, w.namespace, timeoutMs)
          : await cluster.rollout(w.name, w.namespace, timeoutMs);
      if (outcome.status === "failed") return { outcome, deployments };
      if (wait === "Job") messages.push(outcome.message);
    }
    const message =
      wait === "Job" && messages.length
        ? messages.join("\n")
        : waits.length
          ? `rolled out ${waits.map((w) => w.name).join(", ")}`
          : `applied ${applied.map((m) => `${m.kind?.toLowerCase()}/${m.metadata?.name}`).join(", ") || "nothing"}`;
    return { outcome: { status: "succeeded", message: tail(message) }, deployments };
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

function outcomeOf(result: RunResult): Outcome {
  return result.code === 0
    ? { status: "succeeded", message: tail(result.output) || "exit code 0" }
    : { status: "failed", message: `exit code ${result.code}: ${tail(result.output)}` };
}

/** The objects of an instruction's manifests (YAML documents, possibly several per string). */
function manifestsOf(manifests: string[]): Manifest[] {
  return manifests.flatMap((text) =>
    parseAllDocuments(text)
      .map((d) => d.toJS() as Manifest | null)
      .filter((m): m is Manifest => m !== null && typeof m === "object" && typeof m.kind === "string"),
  );
}

function imagesOf(payload: InstructionPayload): string[] {
  if (payload.kind === "extensionTask") return payload.image ? [payload.image] : [];
  return [...payload.manifests.join("\n").matchAll(/image:\s*"?([^"\s]+)"?/g)].map((m) => m[1]!);
}
