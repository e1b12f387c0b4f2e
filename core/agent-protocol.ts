import { z } from "zod";
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
export const CURRENT_AGENT_VERSION = "1.1.0";
const SEMVER = /^(\d+)\.(\d+)\.(\d+)(?:[-+].*)?$/;

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
