import type { DomainEvent, EventOf, InstructionPayload } from "../../events/index.js";
import { event, type Decider } from "../decider.js";
import { conflict, forbidden, invalid, notFound } from "../errors.js";

/**
 * A release channel of an application (stream `channel#<application>/<channel>`): what each service
 * should run there, the instructions sent to its runtimes, which failed, and when a release
 * converged. Pausing is a fact about the whole channel, so the channel — not each service in it —
 * is the consistency boundary. How each runtime is getting on (acknowledged, applying, succeeded)
 * is not: that lives in the runtime's delivery stream (deliveryDecider), and the channel hears of
 * it once, when the last runtime has succeeded (RecordConvergence).
 */

export type InstructionStatus = "dispatched" | "acknowledged" | "applying" | "succeeded" | "failed";

export type Instruction = {
  instructionId: string;
  service: string;
  releaseId: string;
  runtime: string;
  status: InstructionStatus;
  message?: string;
};

export type ServiceInChannel = {
  /**
   * The release the channel should run, the instructions sent for it, and whether every one of
   * them has succeeded (`converged`: this dispatch's ChannelConverged is recorded).
   */
  desired?: {
    releaseId: string;
    instructionIds: string[];
    rollback: boolean;
    instructionCount?: number;
    converged?: boolean;
  };
  /** The last release every runtime reported running, and since when. */
  converged?: string;
  convergedAt?: string;
  /** Releases that converged here, oldest first: the candidates for a rollback. */
  history: string[];
  /**
   * After a rollback from a release, it and every older release stay out of the channel: nothing
   * automatic brings them back, only a newer release or an operator's explicit promotion of this
   * hold (`rollbacks` tells one hold from the next).
   */
  hold?: RollbackHold;
};

export type RollbackHold = { through: string; rollbacks: number };

/**
 * Whether a rollback keeps a release out of the channel: the release rolled back from, any older
 * one, and any config release carrying their params (`basedOn`). An explicit promotion of this
 * very hold lifts it for that release.
 */
export function heldBack(
  svc: ServiceInChannel | undefined,
  release: { releaseId: string; basedOn?: string | undefined },
  explicitHold?: number,
): RollbackHold | undefined {
  const hold = svc?.hold;
  if (!hold || explicitHold === hold.rollbacks) return undefined;
  const held = release.releaseId <= hold.through || (release.basedOn !== undefined && release.basedOn <= hold.through);
  return held ? hold : undefined;
}

export type ChannelState = {
  application?: string;
  channel?: string;
  /** `until`: the pause ends by itself then (see ExpirePause). */
  paused?: { reason?: string; until?: string };
  services: Record<string, ServiceInChannel>;
  instructions: Record<string, Instruction>;
};

export type PlannedInstruction = { instructionId: string; runtime: string; payload: InstructionPayload };

/**
 * A dispatch too large for one append is sent in parts (see dispatchInParts in
 * functions/adapters/promoter.ts): each part names the same release, carries the next instructions
 * and `total`, the count of them all. Repeating a part, or planning afresh after a crash between
 * parts, dispatches only to the runtimes that have no instruction for the release yet.
 */
export type ChannelCommand =
  | {
      type: "DeployRelease";
      application: string;
      channel: string;
      service: string;
      releaseId: string;
      instructions: PlannedInstruction[];
      total?: number;
      /** The rollback hold an operator's explicit promotion lifted for this release, if any. */
      explicitHold?: number;
      /** For a config release: the release whose params it carries (a rollback hold on that one holds it too). */
      basedOn?: string;
    }
  | {
      type: "RollbackService";
      application: string;
      channel: string;
      service: string;
      toReleaseId: string;
      instructions: PlannedInstruction[];
      reason?: string;
      total?: number;
    }
  | { type: "ReportApplyFailure"; instructionId: string; runtime: string; message?: string }
  /**
   * Every instruction in `succeeded` has succeeded (the convergence count says so): if they are all
   * of the service's current dispatch of `releaseId`, it has converged.
   */
  | { type: "RecordConvergence"; service: string; releaseId: string; succeeded: readonly string[]; now: string }
  | ({ type: "PauseChannel"; application: string; channel: string; reason?: string } & (
      { until?: undefined } | { until: string; now: string }
    ))
  | { type: "ResumeChannel"; application: string; channel: string }
  /** The scheduler's resume of a pause until `until`, due `now`: it names the pause it ends. */
  | { type: "ExpirePause"; application: string; channel: string; until: string; now: string };

type ChannelEvent =
  | EventOf<"InstructionDispatched">
  | EventOf<"ApplyFailed">
  | EventOf<"ChannelConverged">
  | EventOf<"ReleaseRolledBack">
  | EventOf<"ChannelPaused">
  | EventOf<"ChannelResumed">;

function notPaused(state: ChannelState, channel: string): void {
  if (state.paused)
    throw conflict(
      "channel.paused",
      `release channel "${channel}" is paused${state.paused.reason ? `: ${state.paused.reason}` : ""}`,
    );
}

function dispatch(
  c: { application: string; channel: string; service: string; total?: number },
  releaseId: string,
  planned: PlannedInstruction[],
  state: ChannelState,
  rollback: boolean,
): ChannelEvent[] {
  if (planned.length === 0)
    throw invalid(
      "channel.no_runtimes",
      `release channel "${c.channel}" has no runtime to deploy service "${c.service}" to`,
    );
  const count = c.total !== undefined && c.total !== planned.length ? { instructionCount: c.total } : {};
  const ids = new Set<string>();
  for (const p of planned) {
    if (ids.has(p.instructionId) || state.instructions[p.instructionId])
      throw conflict("instruction.duplicate_id", `instruction ${p.instructionId} already exists`);
    ids.add(p.instructionId);
  }
  const { application, channel, service } = c;
  return planned.map((p) =>
    event("InstructionDispatched", {
      application,
      channel,
      service,
      releaseId,
      instructionId: p.instructionId,
      runtime: p.runtime,
      payload: p.payload,
      rollback,
      ...count,
    }),
  );
}

/** The next part of a dispatch already under way: only runtimes with no instruction for the release yet. */
function continueDispatch(
  c: { application: string; channel: string; service: string; total?: number },
  planned: PlannedInstruction[],
  state: ChannelState,
): ChannelEvent[] {
  const desired = state.services[c.service]!.desired!;
  const instructed = new Set(desired.instructionIds.map((id) => state.instructions[id]?.runtime));
  const missing = planned.filter((p) => !instructed.has(p.runtime));
  return missing.length
    ? dispatch(
        { ...c, total: c.total ?? desired.instructionCount },
        desired.releaseId,
        missing,
        state,
        desired.rollback,
      )
    : [];
}

/** The instruction an agent reports on, refusing one that does not exist or is not its runtime's. */
export function instructionFor(state: ChannelState, instructionId: string, runtime: string): Instruction {
  const instruction = state.instructions[instructionId];
  if (!instruction) throw notFound("instruction.not_found", `instruction ${instructionId} does not exist`);
  // An agent may only speak for its own runtime's instructions.
  if (instruction.runtime !== runtime)
    throw forbidden(
      "instruction.wrong_runtime",
      `instruction ${instructionId} is for runtime "${instruction.runtime}", not "${runtime}"`,
    );
  return instruction;
}

function decide(command: ChannelCommand, state: ChannelState): ChannelEvent[] {
  switch (command.type) {
    case "DeployRelease": {
      notPaused(state, command.channel);
      const current = state.services[command.service];
      if (current?.desired?.releaseId === command.releaseId)
        return continueDispatch(command, command.instructions, state);
      const hold = heldBack(current, command, command.explicitHold);
      if (hold)
        throw conflict(
          "channel.rolled_back",
          `release channel "${command.channel}" was rolled back from ${hold.through}; release ${command.releaseId}${command.basedOn ? ` (carrying the params of ${command.basedOn})` : ""} goes there only when promoted explicitly`,
        );
      return dispatch(command, command.releaseId, command.instructions, state, false);
    }
    case "RollbackService": {
      // Pause holds automatic promotion only: an operator rolls back when it matters most.
      const svc = state.services[command.service];
      if (!svc?.history.includes(command.toReleaseId))
        throw conflict(
          "rollback.unknown_release",
          `release ${command.toReleaseId} never converged for service "${command.service}" in release channel "${command.channel}", so it cannot be rolled back to`,
        );
      if (svc.desired?.releaseId === command.toReleaseId) return continueDispatch(command, command.instructions, state);
      return [
        event("ReleaseRolledBack", {
          application: command.application,
          channel: command.channel,
          service: command.service,
          toReleaseId: command.toReleaseId,
          ...(svc.desired ? { fromReleaseId: svc.desired.releaseId } : {}),
          ...(command.reason ? { reason: command.reason } : {}),
        }),
        ...dispatch(command, command.toReleaseId, command.instructions, state, true),
      ];
    }
    case "ReportApplyFailure": {
      const instruction = instructionFor(state, command.instructionId, command.runtime);
      // A repeated or late report changes nothing (a success was recorded in the delivery stream,
      // which the caller checks first).
      if (instruction.status === "failed" || instruction.status === "succeeded") return [];
      return [
        event("ApplyFailed", {
          instructionId: instruction.instructionId,
          runtime: instruction.runtime,
          service: instruction.service,
          releaseId: instruction.releaseId,
          message: command.message ?? "the apply failed",
        }),
      ];
    }
    case "RecordConvergence": {
      const desired = state.services[command.service]?.desired;
      if (!desired || desired.releaseId !== command.releaseId || desired.converged) return [];
      if (desired.instructionIds.length < (desired.instructionCount ?? 0)) return [];
      const succeeded = new Set(command.succeeded);
      if (!desired.instructionIds.every((id) => succeeded.has(id))) return [];
      if (!state.application || !state.channel) return [];
      return [
        event("ChannelConverged", {
          application: state.application,
          channel: state.channel,
          service: command.service,
          releaseId: command.releaseId,
          convergedAt: command.now,
        }),
      ];
    }
    case "PauseChannel": {
      if (command.until !== undefined && Date.parse(command.until) <= Date.parse(command.now))
        throw invalid(
          "pause.until_not_future",
          `until (${command.until}) must be in the future; it is ${command.now} now`,
          [{ path: "until", message: "until must be a time in the future" }],
        );
      // Pausing a paused channel again changes when it ends (and, if given, why); nothing else.
      const reason = command.reason ?? state.paused?.reason;
      if (state.paused && state.paused.until === command.until && state.paused.reason === reason) return [];
      return [
        event("ChannelPaused", {
          application: command.application,
          channel: command.channel,
          ...(reason ? { reason } : {}),
          ...(command.until !== undefined ? { until: command.until } : {}),
        }),
      ];
    }
    case "ExpirePause":
      // Only the pause that was scheduled to end: not one resumed since, or paused again with another until.
      if (state.paused?.until !== command.until || Date.parse(command.now) < Date.parse(command.until)) return [];
      return [
        event("ChannelResumed", { application: command.application, channel: command.channel, until: command.until }),
      ];
    case "ResumeChannel":
      if (!state.paused) return [];
      return [event("ChannelResumed", { application: command.application, channel: command.channel })];
  }
}

function evolve(state: ChannelState, e: DomainEvent): ChannelState {
  const service = (name: string): ServiceInChannel => state.services[name] ?? { history: [] };
  const setInstruction = (id: string, f: (i: Instruction) => Instruction): ChannelState => {
    const i = state.instructions[id];
    return i ? { ...state, instructions: { ...state.instructions, [id]: f(i) } } : state;
  };
  switch (e.type) {
    case "InstructionDispatched": {
      const d = e.data;
      const svc = service(d.service);
      const sameRelease = svc.desired?.releaseId === d.releaseId;
      const instructionCount = d.instructionCount ?? (sameRelease ? svc.desired?.instructionCount : undefined);
      const desired = {
        releaseId: d.releaseId,
        instructionIds:
          sameRelease && svc.desired ? [...svc.desired.instructionIds, d.instructionId] : [d.instructionId],
        rollback: d.rollback,
        ...(instructionCount !== undefined ? { instructionCount } : {}),
      };
      return {
        ...state,
        application: d.application,
        channel: d.channel,
        services: { ...state.services, [d.service]: { ...svc, desired } },
        instructions: {
          ...state.instructions,
          [d.instructionId]: {
            instructionId: d.instructionId,
            service: d.service,
            releaseId: d.releaseId,
            runtime: d.runtime,
            status: "dispatched",
          },
        },
      };
    }
    // Logs written before reports had delivery streams of their own hold them here.
    case "InstructionAcknowledged":
      return setInstruction(e.data.instructionId, (i) => ({ ...i, status: "acknowledged" }));
    case "ApplyStarted":
      return setInstruction(e.data.instructionId, (i) => ({ ...i, status: "applying" }));
    case "ApplySucceeded":
      return setInstruction(e.data.instructionId, (i) => ({
        ...i,
        status: "succeeded",
        ...(e.data.message ? { message: e.data.message } : {}),
      }));
    case "ApplyFailed":
      return setInstruction(e.data.instructionId, (i) => ({ ...i, status: "failed", message: e.data.message }));
    case "ChannelConverged": {
      const svc = service(e.data.service);
      const history = [...svc.history.filter((r) => r !== e.data.releaseId), e.data.releaseId];
      const desired =
        svc.desired?.releaseId === e.data.releaseId ? { desired: { ...svc.desired, converged: true } } : {};
      return {
        ...state,
        services: {
          ...state.services,
          [e.data.service]: {
            ...svc,
            ...desired,
            converged: e.data.releaseId,
            convergedAt: e.data.convergedAt,
            history,
          },
        },
      };
    }
    case "ReleaseRolledBack": {
      const svc = service(e.data.service);
      const from = e.data.fromReleaseId;
      if (!from) return state;
      const through = svc.hold && svc.hold.through > from ? svc.hold.through : from;
      const hold = { through, rollbacks: (svc.hold?.rollbacks ?? 0) + 1 };
      return { ...state, services: { ...state.services, [e.data.service]: { ...svc, hold } } };
    }
    case "ChannelPaused":
      return {
        ...state,
        application: e.data.application,
        channel: e.data.channel,
        paused: {
          ...(e.data.reason ? { reason: e.data.reason } : {}),
          ...(e.data.until ? { until: e.data.until } : {}),
        },
      };
    case "ChannelResumed": {
      const { paused: _p, ...rest } = state;
      return rest;
    }
    default:
      return state;
  }
}

export const channelDecider: Decider<ChannelCommand, ChannelState, ChannelEvent> = {
  initialState: () => ({ services: {}, instructions: {} }),
  evolve,
  decide,
};
