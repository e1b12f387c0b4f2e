import type { DomainEvent, EventOf } from "../../events/index.js";
import { event, type Decider } from "../decider.js";
import type { InstructionStatus } from "./channel.js";

/**
 * How one runtime is getting on with the instructions one channel sent it (stream
 * `delivery#<application>/<channel>/<runtime>`): acknowledged, applying, succeeded. Kept out of the
 * channel's stream so that a thousand agents reporting at once never contend for one version —
 * each runtime's reports go to a stream of its own, and only the report that completes a release
 * touches the channel (ChannelConverged, through the convergence count; see
 * functions/services/convergence.ts). A failure is a fact about the channel — it stops promotion —
 * so it is recorded there (ReportApplyFailure in the channel decider).
 */

export type DeliveryState = { statuses: Record<string, InstructionStatus> };

/** An instruction the channel dispatched, as the report names it (checked against the channel first). */
type Reported = { instructionId: string; runtime: string; service: string; releaseId: string };

export type DeliveryCommand =
  | (Reported & { type: "AcknowledgeInstruction"; connectionId: string; leaseGeneration: number })
  | (Reported & { type: "ReportProgress"; outcome: "applying" | "succeeded"; message?: string });

type DeliveryEvent = EventOf<"InstructionAcknowledged"> | EventOf<"ApplyStarted"> | EventOf<"ApplySucceeded">;

/** How far an instruction has got: reports only ever move it forward. */
export const PROGRESS: Record<InstructionStatus, number> = {
  dispatched: 0,
  acknowledged: 1,
  applying: 2,
  succeeded: 3,
  failed: 3,
};

function decide(command: DeliveryCommand, state: DeliveryState): DeliveryEvent[] {
  const now = state.statuses[command.instructionId] ?? "dispatched";
  const { instructionId, runtime, service, releaseId } = command;
  switch (command.type) {
    case "AcknowledgeInstruction": {
      if (PROGRESS[now] >= PROGRESS.acknowledged) return [];
      const { connectionId, leaseGeneration } = command;
      return [event("InstructionAcknowledged", { instructionId, runtime, service, connectionId, leaseGeneration })];
    }
    case "ReportProgress": {
      // A repeated or late report changes nothing.
      if (PROGRESS[now] >= PROGRESS[command.outcome]) return [];
      if (command.outcome === "applying")
        return [event("ApplyStarted", { instructionId, runtime, service, releaseId })];
      return [
        event("ApplySucceeded", {
          instructionId,
          runtime,
          service,
          releaseId,
          ...(command.message ? { message: command.message } : {}),
        }),
      ];
    }
  }
}

/** The status each event of a delivery stream moves its instruction to. */
export const DELIVERY_STATUS = {
  InstructionAcknowledged: "acknowledged",
  ApplyStarted: "applying",
  ApplySucceeded: "succeeded",
} as const satisfies Partial<Record<DomainEvent["type"], InstructionStatus>>;

function evolve(state: DeliveryState, e: DomainEvent): DeliveryState {
  const status = (DELIVERY_STATUS as Partial<Record<DomainEvent["type"], InstructionStatus>>)[e.type];
  if (!status) return state;
  const id = (e.data as { instructionId: string }).instructionId;
  return { statuses: { ...state.statuses, [id]: status } };
}

export const deliveryDecider: Decider<DeliveryCommand, DeliveryState, DeliveryEvent> = {
  initialState: () => ({ statuses: {} }),
  evolve,
  decide,
};
