import type { Application, ReleaseChannel } from "./config/schema.js";
import type { GateOverride } from "./deciders/release.js";
import type { GateContext, GateResult } from "./gates/gate.js";
import {
  evaluateApplicationGates,
  evaluatePrecondition,
  preconditionKey,
  type Precondition,
} from "./gates/registry.js";

/**
 * Precondition evaluation for a channel: pure functions of the config, what is known about the
 * release, and the time passed in. A gate is satisfied, or blocked with a reason — and, when only
 * time will change it, with the instant `until` at which it must be evaluated again (the scheduler
 * turns that into a delayed message; nothing polls). What each kind of gate does is in gates/.
 */

export type { GateContext, GateResult } from "./gates/gate.js";
export { DEFAULT_APPROVAL, approvalState, type Approval } from "./gates/manual-approval.js";
export { inWindow, nextOpening } from "./gates/deploy-window.js";

/** A gate and its result; gates that come from no configured precondition (such as protectSoak) have none. */
export type GateEvaluation = { key: string; precondition?: Precondition; result: GateResult };

/** Every gate of a channel for one release, in config order. */
export function evaluateChannelGates(channel: ReleaseChannel, ctx: GateContext): GateEvaluation[] {
  return channel.preconditions.map((precondition) => ({
    key: preconditionKey(precondition),
    precondition,
    result: evaluatePrecondition(precondition, ctx),
  }));
}

/** Every gate of a channel for one release: its preconditions, then the application's own gates (freezes) that hold it. */
export function evaluateGates(application: Application, channel: ReleaseChannel, ctx: GateContext): GateEvaluation[] {
  return [...evaluateChannelGates(channel, ctx), ...evaluateApplicationGates(application, channel.name, ctx)];
}

/** A gate an admin overrode for this release in this channel passes, saying who overrode it and why. */
export function withOverrides(
  gates: readonly GateEvaluation[],
  overrides: Readonly<Record<string, GateOverride>> | undefined,
): GateEvaluation[] {
  return gates.map((g) => {
    const o = overrides?.[g.key];
    return o ? { ...g, result: { state: "satisfied", note: `overridden by ${o.by}: ${o.reason}` } } : g;
  });
}

/** The earliest instant at which some time-bound gate can change, if any. */
export function nextEvaluation(gates: readonly GateEvaluation[]): string | undefined {
  const times = gates.flatMap((g) => (g.result.state === "blocked" && g.result.until ? [g.result.until] : []));
  return times.sort()[0];
}
