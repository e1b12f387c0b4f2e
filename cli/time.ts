import { InvalidArgumentError } from "commander";
import { Duration, durationSeconds } from "../core/index.js";

/** Durations are written as in config files (`30s`, `5m`, `1h30m`, `1d`); times relative to now. */

/** A `--timeout`-style flag: seconds in a duration, or a usage error saying how to write one. */
export function parseDuration(value: string): number {
  if (!Duration.safeParse(value).success)
    throw new InvalidArgumentError("must be a duration such as 30s, 5m or 1h30m.");
  return durationSeconds(value);
}

/**
 * A flag naming an instant: an RFC 3339 time with its UTC offset, or a duration from now —
 * `--until 30m` for a pause, `--since 1h` for a list (`ago` turns the duration backwards).
 */
export function parseInstant(direction: "ahead" | "ago") {
  return (value: string): string => {
    if (Duration.safeParse(value).success) {
      const sign = direction === "ahead" ? 1 : -1;
      return new Date(Date.now() + sign * durationSeconds(value) * 1000).toISOString();
    }
    if (/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2})$/i.test(value) && !isNaN(Date.parse(value)))
      return value;
    throw new InvalidArgumentError(
      `must be an RFC 3339 time with a UTC offset (2026-12-24T18:00:00Z) or a duration (${direction === "ahead" ? "30m: from now" : "1h: ago"}).`,
    );
  };
}

/** `1h30m`, `45s`, `2d3h`: the two largest units, as durations are written. */
export function formatDuration(seconds: number): string {
  const s = Math.max(0, Math.round(seconds));
  const units: [string, number][] = [
    ["d", 86_400],
    ["h", 3_600],
    ["m", 60],
    ["s", 1],
  ];
  const parts: string[] = [];
  let rest = s;
  for (const [unit, size] of units) {
    const n = Math.floor(rest / size);
    if (n > 0 || (unit === "s" && parts.length === 0)) parts.push(`${n}${unit}`);
    rest -= n * size;
    if (parts.length === 2) break;
  }
  // Once the larger unit is there, a zero smaller one says nothing: 2h, not 2h0m.
  return parts.join("");
}

/** `5m ago`, `in 30s`, `just now`. */
export function relativeTime(iso: string | undefined, now = Date.now()): string {
  if (!iso) return "-";
  const at = Date.parse(iso);
  if (isNaN(at)) return iso;
  const seconds = (at - now) / 1000;
  if (Math.abs(seconds) < 1) return "just now";
  return seconds > 0 ? `in ${formatDuration(seconds)}` : `${formatDuration(-seconds)} ago`;
}
