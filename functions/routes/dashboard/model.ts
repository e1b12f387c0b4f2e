import { DEFAULT_APPROVAL } from "../../../core/index.js";
import type { ParamValue } from "../../../events/index.js";
import type { GateState } from "../../services/dashboard.js";

/**
 * How the dashboard says things: pure functions from what the services return to the words and
 * signals on the page, kept apart from the markup so they can be specified on their own.
 */

/** The states a cell, badge or chip can show; each has a colour *and* a word and a symbol. */
export type Tone = "deploying" | "converged" | "failed" | "waiting" | "paused" | "frozen" | "idle" | "ok" | "bad";

export const SYMBOL: Record<Tone, string> = {
  deploying: "◐",
  converged: "✓",
  failed: "✕",
  waiting: "◷",
  paused: "‖",
  frozen: "❄",
  idle: "–",
  ok: "✓",
  bad: "⚠",
};

/** A gate as a chip: what kind it is, what it says, and the instant a countdown runs to. */
export type Chip = { key: string; tone: Tone; label: string; text: string; until?: string; title: string };

/** A release id as people say it: the last eight characters (ids differ there; the start is a timestamp). */
export function shortId(releaseId: string): string {
  return releaseId.length > 12 ? releaseId.slice(-8) : releaseId;
}

/** A param as the pipeline shows it: an image reference by its tag, anything else as it is (trimmed). */
export function paramText(value: ParamValue): string {
  if (typeof value !== "string") return JSON.stringify(value);
  const image = /^[^\s@]+\/[^\s@:]+:([\w][\w.-]{0,127})$/.exec(value);
  if (image) return image[1]!;
  const digest = /@sha256:([a-f0-9]{12})[a-f0-9]*$/.exec(value);
  if (digest) return `sha256:${digest[1]}`;
  return value.length > 40 ? `${value.slice(0, 39)}…` : value;
}

/** The params a cell shows, in name order, at most `max`. */
export function paramsShown(params: Readonly<Record<string, ParamValue>>, max = 2): { name: string; text: string }[] {
  return Object.keys(params)
    .sort()
    .slice(0, max)
    .map((name) => ({ name, text: paramText(params[name]!) }));
}

/**
 * "3m 20s", "2h 5m", "4d 3h": how long until (or since) something, at the precision a person reads.
 * assets/client.js ticks the same words on in the page: change both together.
 */
export function duration(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m ${s % 60}s`;
  const h = Math.floor(m / 60);
  if (h < 24) return `${h}h ${m % 60}m`;
  return `${Math.floor(h / 24)}d ${h % 24}h`;
}

/** "5m ago", "just now": the age of something at `now`. */
export function age(at: string, now: number): string {
  const ms = now - Date.parse(at);
  return ms < 5000 ? "just now" : `${duration(ms).split(" ")[0]} ago`;
}

/** An instant as the page prints it, in UTC: "2026-12-03 08:40 UTC". */
export function clock(at: string): string {
  return `${at.slice(0, 10)} ${at.slice(11, 16)} UTC`;
}

/** A state name as the page says it: "rolledBack" is "rolled back". */
export function words(state: string): string {
  return state.replace(/([a-z])([A-Z])/g, (_, a: string, b: string) => `${a} ${b.toLowerCase()}`);
}

/** A gate of a waiting release as a chip: soak with its countdown, approvals with who, windows and freezes with when. */
export function gateChip(gate: GateState): Chip {
  const at = gate.key.indexOf(":");
  const kind = at < 0 ? gate.key : gate.key.slice(0, at);
  const name = at < 0 ? "" : gate.key.slice(at + 1);
  const r = gate.result;
  if (r.state === "satisfied") {
    const label = LABELS.get(kind) ?? kind;
    return {
      key: gate.key,
      tone: "ok",
      label,
      text: name ? `${name}: passed` : "passed",
      title: r.note ?? `${label} passed`,
    };
  }
  const until = r.until;
  const base = { key: gate.key, title: r.reason, ...(until ? { until } : {}) };
  switch (kind) {
    case "releaseChannelStable":
      return until
        ? { ...base, tone: "waiting", label: "soak", text: `${name} stable; ends in` }
        : {
            ...base,
            tone: r.reason.includes(" failed ") ? "failed" : "waiting",
            label: "upstream",
            text: `waiting for ${name}`,
          };
    case "manualApproval": {
      const a = gate.approval;
      if (a?.rejected)
        return { ...base, tone: "failed", label: "approval", text: `rejected by ${a.rejected.approver}` };
      const granted = a?.grantedBy ?? [];
      const needed = a?.minApprovers ?? 1;
      return {
        ...base,
        tone: "waiting",
        label: name === DEFAULT_APPROVAL ? "approval" : `approval "${name}"`,
        text: `${granted.length} of ${needed}${granted.length ? `: ${granted.join(", ")}` : ""}`,
      };
    }
    case "deployWindow":
      return r.reason.startsWith("inside")
        ? { ...base, tone: "waiting", label: "deny window", text: until ? `closes at ${clock(until)}` : "open" }
        : { ...base, tone: "waiting", label: "window", text: until ? `opens at ${clock(until)}` : "closed" };
    case "freeze":
      return { ...base, tone: "frozen", label: "freeze", text: until ? `until ${clock(until)}` : name };
    default:
      return { ...base, tone: "waiting", label: LABELS.get(kind) ?? kind, text: r.reason };
  }
}

const LABELS = new Map([
  ["releaseChannelStable", "soak"],
  ["manualApproval", "approval"],
  ["deployWindow", "window"],
  ["freeze", "freeze"],
]);

/**
 * The state a waiting release shows in a cell: frozen when a freeze holds it, else waiting. A
 * channel's pause is shown on the channel (and on every cell of it) by the page.
 */
export function waitingTone(gates: readonly GateState[]): Tone {
  return gates.some((g) => g.result.state === "blocked" && g.key.startsWith("freeze:")) ? "frozen" : "waiting";
}
