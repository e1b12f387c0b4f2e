import * as z from "zod";
import { InstructionPayload } from "../events/index.js";
import { Name } from "./config/schema.js";

/**
 * The agent protocol: JSON messages over one WebSocket per runtime. Agents send messages routed on
 * `action`; the server sends messages typed by `type`. See docs/agent-protocol.md.
 */

export const PROTOCOL_VERSION = 1;
const InstructionId = z.string().min(1).max(300);
const LeaseGeneration = z.number().int().positive();

// ── agent → server ─────────────────────────────────────────────────────────────────────────

export const AckMessage = z.strictObject({
  action: z.literal("ack"),
  instructionId: InstructionId,
  leaseGeneration: LeaseGeneration.optional(),
});
export const ReportMessage = z.strictObject({
  action: z.literal("report"),
  instructionId: InstructionId,
  status: z.enum(["applying", "succeeded", "failed"]),
  message: z.string().max(4096).optional(),
  leaseGeneration: LeaseGeneration.optional(),
});
export const StateMessage = z.strictObject({
  action: z.literal("state"),
  services: z
    .array(
      z.strictObject({
        service: z.string().max(253),
        runtime: Name.optional(),
        releaseId: z.string().max(128).optional(),
        images: z.array(z.string().max(512)).max(100).optional(),
        healthy: z.boolean(),
      }),
    )
    .max(1000),
  leaseGeneration: LeaseGeneration.optional(),
});
export const HeartbeatMessage = z.strictObject({
  action: z.literal("heartbeat"),
  leaseGeneration: LeaseGeneration.optional(),
});

export const AgentMessage = z.discriminatedUnion("action", [AckMessage, ReportMessage, StateMessage, HeartbeatMessage]);
export type AgentMessage = z.infer<typeof AgentMessage>;
export const AGENT_ACTIONS = ["ack", "report", "state", "heartbeat"] as const;

// ── server → agent ─────────────────────────────────────────────────────────────────────────

export const InstructionMessage = z.object({
  type: z.literal("instruction"),
  protocol: z.literal(PROTOCOL_VERSION),
  instructionId: InstructionId,
  runtime: Name,
  application: Name,
  channel: Name,
  service: Name,
  releaseId: z.string(),
  rollback: z.boolean(),
  leaseGeneration: LeaseGeneration,
  /** Inline when it fits one WebSocket message; otherwise fetched from `payloadUrl` with the agent token. */
  payload: InstructionPayload.optional(),
  payloadUrl: z.string().optional(),
});
export type InstructionMessage = z.infer<typeof InstructionMessage>;

export const ErrorMessage = z.object({
  type: z.literal("error"),
  code: z.string(),
  message: z.string(),
  instructionId: z.string().optional(),
});
export type ErrorMessage = z.infer<typeof ErrorMessage>;

/**
 * Sent to the agent of a `managed` runtime when it connects with a version older than the one
 * this server ships (but still supported): the version to run, and the image to run it from —
 * the repository the runtime was linked with, at that version. An agent may receive it more than
 * once per connection; it is a request, not an instruction: nothing is acknowledged or reported.
 */
export const UpgradeMessage = z.object({
  type: z.literal("upgrade"),
  version: z.string(),
  image: z.string(),
});
export type UpgradeMessage = z.infer<typeof UpgradeMessage>;

// ── instruction ids ────────────────────────────────────────────────────────────────────────

/**
 * An instruction's id says where it lives: `<application>.<channel>.<releaseId>.<runtime>[.<n>]`.
 * Names never contain dots, so the id routes an agent's report to its channel stream.
 */
export function instructionId(
  application: string,
  channel: string,
  releaseId: string,
  runtime: string,
  attempt = 0,
): string {
  return [application, channel, releaseId, runtime, ...(attempt ? [String(attempt)] : [])].join(".");
}

export function parseInstructionId(
  id: string,
): { application: string; channel: string; releaseId: string; runtime: string; attempt: number } | undefined {
  const parts = id.split(".");
  if (parts.length !== 4 && parts.length !== 5) return undefined;
  const [application, channel, releaseId, runtime, attempt = "0"] = parts as [string, string, string, string, string?];
  if (![application, channel, runtime].every((n) => Name.safeParse(n).success)) return undefined;
  if (!/^\d+$/.test(attempt)) return undefined;
  return { application, channel, releaseId, runtime, attempt: Number(attempt) };
}

// ── agent versions ─────────────────────────────────────────────────────────────────────────

/** The agent version this server ships install manifests for. */
export const CURRENT_AGENT_VERSION = "1.2.0";
/** The repository of the agent's image when a link names none (the install YAML runs `<this>:<version>`). */
export const DEFAULT_AGENT_IMAGE_REPOSITORY = "slipway/agent";
/** The namespace the install YAML runs agents in when a link names none. */
export const DEFAULT_AGENT_NAMESPACE = "slipway-agent";
const SEMVER = /^(\d+)\.(\d+)\.(\d+)(-[^+]*)?(?:\+.*)?$/;

/** An image reference without its tag and digest: `registry:5000/slipway/agent:1.1.0@sha256:…` → `registry:5000/slipway/agent`. */
export function imageRepository(image: string): string {
  const undigested = image.split("@")[0]!;
  const lastSlash = undigested.lastIndexOf("/");
  const colon = undigested.indexOf(":", lastSlash + 1);
  return colon === -1 ? undigested : undigested.slice(0, colon);
}

/**
 * Agents of the current major version within the latest `minors` minor versions are supported
 * (1.4.x, 1.3.x and 1.2.x when the server ships 1.4 and minors is 3); a newer agent than the server
 * knows is refused too, since it may speak a protocol this server does not.
 */
export function agentVersionProblem(
  version: string | undefined,
  current = CURRENT_AGENT_VERSION,
  minors = 3,
): string | undefined {
  if (!version) return "the X-Slipway-Agent-Version header is missing";
  const v = SEMVER.exec(version);
  const c = SEMVER.exec(current)!;
  if (!v) return `agent version "${version}" is not a semantic version`;
  const [major, minor] = [Number(v[1]), Number(v[2])];
  const [cMajor, cMinor] = [Number(c[1]), Number(c[2])];
  const oldest = Math.max(0, cMinor - minors + 1);
  if (major !== cMajor || minor > cMinor || minor < oldest)
    return `agent version ${version} is not supported; this server supports ${cMajor}.${oldest}.x to ${cMajor}.${cMinor}.x — upgrade the agent to ${current}`;
  return undefined;
}

/**
 * Whether an agent of `version` should be told to upgrade: it is older than `current` but still
 * supported (an unsupported one is refused at connect instead).
 */
export function agentUpgradeAvailable(
  version: string | undefined,
  current = CURRENT_AGENT_VERSION,
  minors = 3,
): boolean {
  if (!version || agentVersionProblem(version, current, minors)) return false;
  return compareVersions(version, current) < 0;
}

/** Orders two semantic versions (build metadata ignored; a pre-release sorts before its release). */
function compareVersions(a: string, b: string): number {
  const [x, y] = [SEMVER.exec(a)!, SEMVER.exec(b)!];
  for (const i of [1, 2, 3]) {
    const d = Number(x[i]) - Number(y[i]);
    if (d !== 0) return d;
  }
  if (x[4] === y[4]) return 0;
  if (!x[4]) return 1;
  if (!y[4]) return -1;
  return x[4] < y[4] ? -1 : 1;
}
