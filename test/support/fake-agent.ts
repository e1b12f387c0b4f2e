import WebSocket from "ws";
import type { InstructionMessage, UpgradeMessage } from "../../core/index.js";

/**
 * A bare WebSocket client speaking the agent protocol, standing in for the reference agent: it acks
 * every instruction and reports the outcome its `outcome` function picks.
 */
export class FakeAgent {
  readonly instructions: InstructionMessage[] = [];
  readonly errors: unknown[] = [];
  /** The `upgrade` requests received; the fake agent does not act on them. */
  readonly upgrades: UpgradeMessage[] = [];
  private socket?: WebSocket;

  constructor(
    private readonly url: string,
    readonly runtime: string,
    private readonly token: string,
    private readonly options: {
      version?: string;
      outcome?: (i: InstructionMessage) => "succeeded" | "failed" | "none";
      onInstruction?: (i: InstructionMessage) => void;
    } = {},
  ) {}

  connect(): Promise<void> {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(`${this.url}?runtime=${this.runtime}`, {
        headers: { authorization: `Bearer ${this.token}`, "x-slipway-agent-version": this.options.version ?? "1.0.0" },
      });
      ws.once("open", () => resolve());
      ws.once("unexpected-response", (_req, res) => {
        let body = "";
        res.on("data", (d: Buffer) => (body += d.toString()));
        res.on("end", () =>
          reject(Object.assign(new Error(`refused ${res.statusCode}: ${body}`), { status: res.statusCode, body })),
        );
      });
      ws.once("error", reject);
      ws.on("message", (data) => this.receive(JSON.parse(data.toString()) as { type: string }));
      this.socket = ws;
    });
  }

  /** The instructions received for a release. */
  received(releaseId: string): InstructionMessage[] {
    return this.instructions.filter((i) => i.releaseId === releaseId);
  }

  /** Whether the connection is closed (by either side). */
  get closed(): boolean {
    return this.socket?.readyState === WebSocket.CLOSED;
  }

  send(message: object): void {
    this.socket?.send(JSON.stringify(message));
  }

  close(): Promise<void> {
    const ws = this.socket;
    if (!ws || ws.readyState === WebSocket.CLOSED) return Promise.resolve();
    return new Promise((resolve) => {
      ws.once("close", () => resolve());
      ws.close();
    });
  }

  private receive(message: { type: string }): void {
    if (message.type === "error") {
      this.errors.push(message);
      return;
    }
    if (message.type === "upgrade") {
      this.upgrades.push(message as UpgradeMessage);
      return;
    }
    if (message.type !== "instruction") return;
    const instruction = message as InstructionMessage;
    this.instructions.push(instruction);
    this.options.onInstruction?.(instruction);
    const outcome = this.options.outcome?.(instruction) ?? "succeeded";
    if (outcome === "none") return;
    this.send({ action: "ack", instructionId: instruction.instructionId });
    this.send({ action: "report", instructionId: instruction.instructionId, status: "applying" });
    this.send({
      action: "report",
      instructionId: instruction.instructionId,
      status: outcome,
      message: outcome === "failed" ? "ImagePullBackOff" : "rolled out",
    });
  }
}
