import * as z from "zod";
import { ClockTime, Name, TimeZone, Weekday } from "../config/fields.js";
import { gateKind, type GateIssue, type PreconditionOf } from "./gate.js";

/**
 * `deployWindow`: on some days between two times of day, in a time zone, the release may go out
 * (an allow window) — or, with `deny: true`, may not (a deny window: a recurring freeze).
 */

const body = z
  .strictObject({
    /** Tells several windows of one channel apart; their results are recorded under it. */
    name: Name.optional(),
    days: z.array(Weekday).min(1, { error: "must name at least one day" }),
    start: ClockTime,
    end: ClockTime,
    timeZone: TimeZone,
    deny: z.boolean().optional(),
  })
  .refine((w) => w.start !== w.end, { error: "start and end must differ", path: ["end"] });
export type DeployWindow = PreconditionOf<"deployWindow", typeof body>;
type Window = Pick<DeployWindow, "days" | "start" | "end" | "timeZone">;

const sort = (w: DeployWindow) => (w.deny ? "deny window" : "deploy window");
const named = (w: DeployWindow) => (w.name ? ` "${w.name}"` : "");
const times = (w: DeployWindow) => `${w.start}–${w.end} ${w.timeZone}`;
// An unnamed allow window keeps the key its results have always been recorded under.
const keyOf = (w: DeployWindow) => (w.name ? `deployWindow:${w.name}` : w.deny ? "deployWindow:deny" : "deployWindow");

export const deployWindow = gateKind({
  kind: "deployWindow",
  body,
  key: keyOf,
  explain: (w) => `${sort(w)}${named(w)} ${dayRanges(w.days)} ${times(w)}`,
  // Windows are policy, not a judgement call about one release: change the config instead.
  overridable: false,

  evaluate(w, ctx) {
    const now = Date.parse(ctx.now);
    const inside = inWindow(w, now);
    if (inside !== (w.deny === true)) return { state: "satisfied" };
    if (w.deny) {
      const until = new Date(nextClosing(w, now)).toISOString();
      return {
        state: "blocked",
        reason: `inside the deny window${named(w)} (${w.days.join(", ")} ${times(w)}); it closes at ${until}`,
        until,
      };
    }
    const until = new Date(nextOpening(w, now)).toISOString();
    return {
      state: "blocked",
      reason: `outside the deploy window${named(w)} (${w.days.join(", ")} ${times(w)}); it opens at ${until}`,
      until,
    };
  },

  // Each window is a gate of its own, recorded under its key: two windows must not share one.
  validate(gates) {
    const seen = new Map<string, number>();
    return gates.flatMap(({ precondition, index }): GateIssue[] => {
      const key = keyOf(precondition);
      const first = seen.get(key);
      if (first === undefined) {
        seen.set(key, index);
        return [];
      }
      return [
        {
          index,
          field: "name",
          message: precondition.name
            ? `deploy window "${precondition.name}" is defined more than once (also preconditions[${first}])`
            : `a channel with several ${sort(precondition)}s must name each of them (see preconditions[${first}])`,
        },
      ];
    });
  },
});

// ── wall-clock time in a time zone ─────────────────────────────────────────────────────────

const WEEKDAYS: Weekday[] = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"];
const minutesOf = (hhmm: string) => Number(hhmm.slice(0, 2)) * 60 + Number(hhmm.slice(3, 5));

/** `mon–fri`, `mon, wed, fri`, `mon–wed, sat`: runs of three days or more read as ranges. */
function dayRanges(days: readonly Weekday[]): string {
  const order = Weekday.options;
  const sorted = [...new Set(days)].sort((a, b) => order.indexOf(a) - order.indexOf(b));
  const runs: Weekday[][] = [];
  for (const day of sorted) {
    const run = runs.at(-1);
    if (run && order.indexOf(day) === order.indexOf(run.at(-1)!) + 1) run.push(day);
    else runs.push([day]);
  }
  return runs.map((run) => (run.length >= 3 ? `${run[0]}–${run.at(-1)}` : run.join(", "))).join(", ");
}

type Local = { year: number; month: number; day: number; weekday: Weekday; minute: number };

function localTime(instant: number, timeZone: string): Local {
  const parts = Object.fromEntries(
    new Intl.DateTimeFormat("en-US", {
      timeZone,
      hourCycle: "h23",
      year: "numeric",
      month: "numeric",
      day: "numeric",
      hour: "numeric",
      minute: "numeric",
      weekday: "short",
    })
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
  return (
    (w.days.includes(local.weekday) && local.minute >= start) || (w.days.includes(yesterday) && local.minute < end)
  );
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

/**
 * The instant the window `instant` lies in closes: the first end of day after it. A window is
 * shorter than a day, so no other end falls between its start and `instant`.
 */
export function nextClosing(w: Window, instant: number): number {
  const end = minutesOf(w.end);
  for (let offsetDays = 0; offsetDays <= 2; offsetDays++) {
    const local = localTime(instant + offsetDays * 86_400_000, w.timeZone);
    const closes = instantOf(local.year, local.month, local.day, end, w.timeZone);
    if (closes > instant) return closes;
  }
  throw new Error(`deploy window ${w.days.join(",")} ${w.start}–${w.end} never closes`);
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
