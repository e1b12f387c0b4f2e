import { durationSeconds, type Precondition, type ReleaseChannel, type Weekday } from "./config/schema.js";
import { approvalState, type Approval, type GateResult } from "./deciders/release.js";

/**
 * Precondition evaluation: pure functions of the config, what is known about the release, and the
 * time passed in. A gate is satisfied, or blocked with a reason — and, when only time will change
 * it, with the instant `until` at which it must be evaluated again (the scheduler turns that into a
 * delayed message; nothing polls).
 */

/** What the gates of one release in one channel look at. */
export type GateContext = {
  now: string;
  releaseId: string;
  /** Per upstream channel: the release it converged on for this service, and since when it is healthy. */
  upstream: Readonly<Record<string, { releaseId?: string; healthySince?: string; failed?: { releaseId: string; message: string } } | undefined>>;
  /** This release's approvals in this channel, by approval name. */
  approvals: Readonly<Record<string, Approval | undefined>>;
};

/** A gate and its result; gates that come from no configured precondition (such as protectSoak) have none. */
export type GateEvaluation = { key: string; precondition?: Precondition; result: GateResult };

export const DEFAULT_APPROVAL = "approval";

/** The stable identity of a gate within its channel, under which its results are recorded. */
export function preconditionKey(p: Precondition): string {
  if (p.releaseChannelStable) return `releaseChannelStable:${p.releaseChannelStable.releaseChannel}`;
  if (p.manualApproval) return `manualApproval:${approvalName(p)}`;
  return "deployWindow";
}

export function approvalName(p: Precondition): string {
  return p.manualApproval?.name ?? DEFAULT_APPROVAL;
}

export function evaluatePrecondition(p: Precondition, ctx: GateContext): GateResult {
  if (p.releaseChannelStable) {
    const { releaseChannel, duration } = p.releaseChannelStable;
    const upstream = ctx.upstream[releaseChannel];
    if (upstream?.failed?.releaseId === ctx.releaseId) {
      return { state: "blocked", reason: `release ${ctx.releaseId} failed in release channel "${releaseChannel}": ${upstream.failed.message}` };
    }
    if (upstream?.releaseId !== ctx.releaseId || !upstream.healthySince) {
      return { state: "blocked", reason: `release ${ctx.releaseId} has not converged in release channel "${releaseChannel}" yet` };
    }
    const soakMs = durationSeconds(duration ?? "0s") * 1000;
    const stableAt = Date.parse(upstream.healthySince) + soakMs;
    if (Date.parse(ctx.now) >= stableAt) return { state: "satisfied" };
    const until = new Date(stableAt).toISOString();
    return { state: "blocked", reason: `release channel "${releaseChannel}" must stay healthy for ${duration} (since ${upstream.healthySince}); the soak ends at ${until}`, until };
  }
  if (p.manualApproval) {
    const name = approvalName(p);
    const approval = ctx.approvals[name];
    const state = approvalState(approval);
    if (state === "approved") return { state: "satisfied" };
    if (state === "rejected" && approval?.rejected) {
      const { approver, comment } = approval.rejected;
      return { state: "blocked", reason: `approval "${name}" was rejected by ${approver}${comment ? `: ${comment}` : ""}` };
    }
    const have = approval?.grantedBy.length ?? 0;
    const need = p.manualApproval.minApprovers;
    return { state: "blocked", reason: `waiting for approval "${name}": ${have} of ${need} approver${need === 1 ? "" : "s"}` };
  }
  if (p.deployWindow) {
    const w = p.deployWindow;
    const now = Date.parse(ctx.now);
    if (inWindow(w, now)) return { state: "satisfied" };
    const opens = nextOpening(w, now);
    const until = new Date(opens).toISOString();
    return { state: "blocked", reason: `outside the deploy window (${w.days.join(", ")} ${w.start}–${w.end} ${w.timeZone}); it opens at ${until}`, until };
  }
  throw new Error("unreachable: a precondition defines exactly one gate");
}

/** Every gate of a channel for one release, in config order. */
export function evaluateChannelGates(channel: ReleaseChannel, ctx: GateContext): GateEvaluation[] {
  return channel.preconditions.map((precondition) => ({ key: preconditionKey(precondition), precondition, result: evaluatePrecondition(precondition, ctx) }));
}

/** The earliest instant at which some time-bound gate can change, if any. */
export function nextEvaluation(gates: readonly GateEvaluation[]): string | undefined {
  const times = gates.flatMap((g) => (g.result.state === "blocked" && g.result.until ? [g.result.until] : []));
  return times.sort()[0];
}

// ── deploy windows ─────────────────────────────────────────────────────────────────────────

type Window = { days: Weekday[]; start: string; end: string; timeZone: string };
const WEEKDAYS: Weekday[] = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"];
const minutesOf = (hhmm: string) => Number(hhmm.slice(0, 2)) * 60 + Number(hhmm.slice(3, 5));

type Local = { year: number; month: number; day: number; weekday: Weekday; minute: number };

function localTime(instant: number, timeZone: string): Local {
  const parts = Object.fromEntries(
    new Intl.DateTimeFormat("en-US", { timeZone, hourCycle: "h23", year: "numeric", month: "numeric", day: "numeric", hour: "numeric", minute: "numeric", weekday: "short" })
      .formatToParts(new Date(instant))
      .map((p) => [p.type, p.value]),
  );
  return {
    year: Number(parts.year),
    month: Number(parts.month),
    day: Number(parts.day),
    weekday: (parts.weekday ?? "").toLowerCase().slice(0, 3) as Weekday,
    minute: Number(parts.hour) * 60 + Number(parts.minute),
  };
}

export function inWindow(w: Window, instant: number): boolean {
  const local = localTime(instant, w.timeZone);
  const start = minutesOf(w.start);
  const end = minutesOf(w.end);
  if (start < end) return w.days.includes(local.weekday) && local.minute >= start && local.minute < end;
  // The window spans midnight: it belongs to the day it starts on.
  const yesterday = WEEKDAYS[(WEEKDAYS.indexOf(local.weekday) + 6) % 7]!;
  return (w.days.includes(local.weekday) && local.minute >= start) || (w.days.includes(yesterday) && local.minute < end);
}

/** The UTC instant of a wall-clock time in a time zone (for times a DST gap skips, the instant after it). */
function instantOf(year: number, month: number, day: number, minute: number, timeZone: string): number {
  const wall = Date.UTC(year, month - 1, day, Math.floor(minute / 60), minute % 60);
  let guess = wall;
  for (let i = 0; i < 3; i++) {
    const l = localTime(guess, timeZone);
    const offset = Date.UTC(l.year, l.month - 1, l.day, Math.floor(l.minute / 60), l.minute % 60) - guess;
    guess = wall - offset;
  }
  return guess;
}

/** The next instant after `instant` at which the window opens. */
export function nextOpening(w: Window, instant: number): number {
  const start = minutesOf(w.start);
  for (let offsetDays = 0; offsetDays <= 8; offsetDays++) {
    const local = localTime(instant + offsetDays * 86_400_000, w.timeZone);
    if (!w.days.includes(local.weekday)) continue;
    const opens = instantOf(local.year, local.month, local.day, start, w.timeZone);
    if (opens > instant) return opens;
  }
  throw new Error(`deploy window ${w.days.join(",")} ${w.start} never opens`);
}
