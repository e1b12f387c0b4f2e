import type { Actor, StoredEvent } from "../events/index.js";
import { parseInstructionId } from "./agent-protocol.js";

/**
 * Every recorded fact as a sentence a person can follow — "release rel-… created for shop/api",
 * "staging: instruction … dispatched to k8s-staging", "production holds rel-…: waiting for approval"
 * — with the keys that tie it to its release, instruction, runtime and request. What a person
 * follows a release by is `info`; bookkeeping is `debug`; a failed apply is `warn`. The sentences
 * name ids and reasons only: an event's secrets stay hashed, and config specs are not repeated.
 */

export type Narration = {
  level: "debug" | "info" | "warn";
  message: string;
  keys: NarrationKeys;
};

export type NarrationKeys = {
  /** Who recorded it: api (a request), reactor, scheduler, or agents (a message of an agent). */
  component: string;
  correlationId: string;
  eventId: string;
  event: string;
  actor: string;
  releaseId?: string;
  application?: string;
  channel?: string;
  service?: string;
  runtime?: string;
  instructionId?: string;
  connectionId?: string;
  [detail: string]: string | number | undefined;
};

export function narrate(e: StoredEvent): Narration {
  const base: NarrationKeys = {
    component: componentOf(e.actor),
    correlationId: e.correlationId,
    eventId: e.eventId,
    event: e.type,
    actor: `${e.actor.kind}:${e.actor.id}`,
  };
  const info = (message: string, keys: Partial<NarrationKeys> = {}): Narration => ({
    level: "info",
    message,
    keys: { ...base, ...defined(keys) },
  });
  const inChannel = channelOf(e.streamId);
  const instruction = (id: string, runtime: string) => ({
    ...inChannel,
    instructionId: id,
    runtime,
    releaseId: parseInstructionId(id)?.releaseId,
  });

  switch (e.type) {
    case "ConfigApplied":
      return info(`config: ${e.data.kind} ${e.data.name} applied (version ${e.data.version})`, configKeys(e.data));
    case "ConfigDeleted":
      return info(`config: ${e.data.kind} ${e.data.name} deleted (version ${e.data.version})`, configKeys(e.data));
    case "ApiKeyIssued":
      return info(`API key "${e.data.name}" issued (id ${e.data.keyId}; scopes ${e.data.scopes.join(", ")})`);
    case "ApiKeyRevoked":
      return info(`API key ${e.data.keyId} revoked`);
    case "AgentTokenIssued":
      return info(`${e.data.runtime}: agent token issued (generation ${e.data.tokenGeneration})`, {
        runtime: e.data.runtime,
      });
    case "AgentTokenRotated":
      return info(
        `${e.data.runtime}: agent token rotated (generation ${e.data.tokenGeneration}); the previous one (generation ${e.data.previousTokenGeneration}) is accepted until ${e.data.previousTokenValidUntil}`,
        { runtime: e.data.runtime },
      );
    case "AgentTokensRevoked": {
      const generations = `generation${e.data.tokens.length > 1 ? "s" : ""} ${e.data.tokens.map((t) => t.tokenGeneration).join(", ")}`;
      return info(
        e.data.scope === "all"
          ? `${e.data.runtime}: agent tokens revoked (${generations}); it must be linked again`
          : `${e.data.runtime}: previous agent token revoked (${generations}); the rotation's overlap ended early`,
        { runtime: e.data.runtime },
      );
    }
    case "RuntimeLinked":
      return info(`${e.data.runtime}: linked by agent ${e.data.agentVersion}`, {
        runtime: e.data.runtime,
        connectionId: e.data.connectionId,
      });
    case "AgentConnected":
      return info(
        `${e.data.runtime}: agent connected (agent ${e.data.agentVersion}, lease ${e.data.leaseGeneration})`,
        { runtime: e.data.runtime, connectionId: e.data.connectionId },
      );
    case "ClusterPinned": {
      const { id, serverVersion } = e.data.cluster;
      return info(
        `${e.data.runtime}: pinned to cluster ${id}${serverVersion ? ` (Kubernetes ${serverVersion})` : ""}; agents in other clusters are refused until it is linked again`,
        { runtime: e.data.runtime, connectionId: e.data.connectionId },
      );
    }
    case "AgentSuperseded":
      return info(`${e.data.runtime}: agent superseded by connection ${e.data.supersededBy}`, {
        runtime: e.data.runtime,
        connectionId: e.data.connectionId,
      });
    case "AgentDisconnected":
      return info(`${e.data.runtime}: agent disconnected: ${e.data.reason}`, {
        runtime: e.data.runtime,
        connectionId: e.data.connectionId,
      });

    case "ReleaseCreated": {
      const { releaseId, application, service, cause, basedOn, author } = e.data;
      const why = cause === "config" ? ` from a config change${basedOn ? ` (params of ${basedOn})` : ""}` : "";
      return info(`release ${releaseId} created for ${application}/${service}${why}`, {
        releaseId,
        application,
        service,
        cause: cause ?? "ci",
        author,
      });
    }
    case "PromotionStarted":
      return info(`${e.data.channel}: ${e.data.releaseId} entered`, e.data);
    case "PreconditionSatisfied": {
      const { note, ...keys } = e.data;
      return {
        // Passing is news only when something lifted it (an override, a released hold).
        ...info(`${e.data.channel}: ${e.data.releaseId} passes ${e.data.precondition}${note ? `: ${note}` : ""}`, keys),
        ...(note ? {} : { level: "debug" as const }),
      };
    }
    case "PreconditionBlocked": {
      const { reason, ...keys } = e.data;
      return info(`${e.data.channel} holds ${e.data.releaseId}: ${reason}`, keys);
    }
    case "ApprovalRequested":
      return info(
        `${e.data.channel}: approval "${e.data.approval}" requested for ${e.data.releaseId} (${e.data.minApprovers} needed)`,
        { releaseId: e.data.releaseId, channel: e.data.channel },
      );
    case "ApprovalGranted":
      return info(
        `${e.data.channel}: approval "${e.data.approval}" of ${e.data.releaseId} granted by ${e.data.approver}${e.data.comment ? `: ${e.data.comment}` : ""}`,
        { releaseId: e.data.releaseId, channel: e.data.channel },
      );
    case "ApprovalRejected":
      return info(
        `${e.data.channel}: approval "${e.data.approval}" of ${e.data.releaseId} rejected by ${e.data.approver}${e.data.comment ? `: ${e.data.comment}` : ""}`,
        { releaseId: e.data.releaseId, channel: e.data.channel },
      );
    case "ReleaseSuperseded":
      return info(`${e.data.channel}: ${e.data.releaseId} superseded by ${e.data.supersededBy}`, e.data);
    case "ReleaseAbandoned":
      return info(`release ${e.data.releaseId} abandoned${e.data.reason ? `: ${e.data.reason}` : ""}`, {
        releaseId: e.data.releaseId,
      });
    case "GateOverridden":
      return info(
        `${e.data.channel}: ${e.data.gate} overridden for ${e.data.releaseId} by ${e.data.by}: ${e.data.reason}`,
        { releaseId: e.data.releaseId, channel: e.data.channel },
      );
    case "ReleaseMarkedBad":
      return info(`release ${e.data.releaseId} marked bad: ${e.data.reason}`, { releaseId: e.data.releaseId });
    case "ExplicitPromotionRequested":
      return info(`${e.data.channel}: promotion of ${e.data.releaseId} requested: ${e.data.reason}`, {
        releaseId: e.data.releaseId,
        channel: e.data.channel,
      });

    case "InstructionDispatched": {
      const { instructionId, releaseId, application, channel, service, runtime, rollback } = e.data;
      return info(`${channel}: ${rollback ? "rollback " : ""}instruction ${instructionId} dispatched to ${runtime}`, {
        releaseId,
        application,
        channel,
        service,
        runtime,
        instructionId,
      });
    }
    case "InstructionAcknowledged":
      return info(`${inChannel.channel}: instruction ${e.data.instructionId} acknowledged by ${e.data.runtime}`, {
        ...instruction(e.data.instructionId, e.data.runtime),
        connectionId: e.data.connectionId,
      });
    case "ApplyStarted":
      return {
        ...info(
          `${inChannel.channel}: instruction ${e.data.instructionId} applying on ${e.data.runtime}`,
          instruction(e.data.instructionId, e.data.runtime),
        ),
        level: "debug",
      };
    case "ApplySucceeded":
      return info(
        `${inChannel.channel}: instruction ${e.data.instructionId} applied on ${e.data.runtime}${e.data.message ? `: ${e.data.message}` : ""}`,
        instruction(e.data.instructionId, e.data.runtime),
      );
    case "ApplyFailed":
      return {
        ...info(
          `${inChannel.channel}: instruction ${e.data.instructionId} failed on ${e.data.runtime}: ${e.data.message}`,
          instruction(e.data.instructionId, e.data.runtime),
        ),
        level: "warn",
      };
    case "ChannelConverged":
      return info(`${e.data.channel}: ${e.data.releaseId} converged`, {
        releaseId: e.data.releaseId,
        application: e.data.application,
        channel: e.data.channel,
        service: e.data.service,
      });
    case "ReleaseRolledBack": {
      const { application, channel, service, fromReleaseId, toReleaseId, reason } = e.data;
      return info(
        `${channel}: ${service} rolled back${fromReleaseId ? ` from ${fromReleaseId}` : ""} to ${toReleaseId}${reason ? `: ${reason}` : ""}`,
        { releaseId: toReleaseId, application, channel, service },
      );
    }
    case "ChannelPaused":
      return info(
        `${e.data.channel}: paused${e.data.until ? ` until ${e.data.until}` : ""}${e.data.reason ? `: ${e.data.reason}` : ""}`,
        { application: e.data.application, channel: e.data.channel },
      );
    case "ChannelResumed":
      return info(`${e.data.channel}: resumed${e.data.until ? ` (its pause until ${e.data.until} ended)` : ""}`, {
        application: e.data.application,
        channel: e.data.channel,
      });
    case "SecretSet":
      return info(`secret ${e.data.name} set`);
    case "SecretDeleted":
      return info(`secret ${e.data.name} deleted`);
    case "NotificationDelivered": {
      const { notificationId: _id, attempts, status: _status, ...keys } = e.data;
      return info(
        `${e.data.releaseId}: ${e.data.outcome} told to ${e.data.target}${attempts > 1 ? ` (try ${attempts})` : ""}`,
        keys,
      );
    }
    case "NotificationDeadLettered": {
      const { notificationId: _id, error, ...keys } = e.data;
      return {
        ...info(
          `${e.data.releaseId}: gave up telling ${e.data.target} of ${e.data.outcome} after ${e.data.attempts} tries: ${error}`,
          keys,
        ),
        level: "warn" as const,
      };
    }
  }
}

/** Events carry who caused them; that names the part of Slipway that recorded them. */
function componentOf(actor: Actor): string {
  if (actor.kind === "agent") return "agents";
  if (actor.kind === "system" && ["reactor", "scheduler", "notifier"].includes(actor.id)) return actor.id;
  return "api";
}

/** The channel of a channel's stream, or of a runtime's delivery stream in it. */
function channelOf(streamId: string): { application?: string; channel?: string } {
  const match = /^(?:channel#([^/]+)\/(.+)|delivery#([^/]+)\/([^/]+)\/.+)$/.exec(streamId);
  if (match?.[3]) return { application: match[3], channel: match[4]! };
  return match ? { application: match[1]!, channel: match[2]! } : {};
}

function configKeys(data: { kind: string; name: string }): Partial<NarrationKeys> {
  return data.kind === "runtime" ? { runtime: data.name } : { [data.kind]: data.name };
}

function defined(keys: Record<string, unknown>): Partial<NarrationKeys> {
  return Object.fromEntries(
    Object.entries(keys).filter(
      (entry): entry is [string, string | number] => typeof entry[1] === "string" || typeof entry[1] === "number",
    ),
  );
}
