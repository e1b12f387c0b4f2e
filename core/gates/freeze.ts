import * as z from "zod";
import { Name } from "../config/fields.js";
import { applicationGateKind, type ApplicationGateIssue } from "./gate.js";

/**
 * `freezes`: dated ranges, listed on the application, in which nothing is deployed to the channels
 * they name (every channel if they name none) — a holiday freeze, a migration weekend.
 */

/** RFC 3339 with its UTC offset: a freeze means one instant, wherever it is read. */
const Instant = z.iso.datetime({
  offset: true,
  error: "must be an RFC 3339 time with a UTC offset, such as 2026-12-24T00:00:00+01:00",
});

const body = z
  .strictObject({
    name: Name,
    from: Instant,
    to: Instant,
    reason: z.string().min(1, { error: "must say why" }).max(1000),
    channels: z.array(Name).min(1, { error: "must name at least one release channel (or be left out)" }).optional(),
  })
  .refine((f) => Date.parse(f.to) > Date.parse(f.from), {
    error: "must be later than the start of the freeze (from)",
    path: ["to"],
  });
export type Freeze = z.output<typeof body>;

const iso = (instant: string) => new Date(instant).toISOString();

export const freeze = applicationGateKind({
  kind: "freeze",
  field: "freezes",
  body,
  // A freeze is an agreement with people outside the pipeline: lift it by changing the config, on the record.
  overridable: false,
  appliesTo: (f, channel) => f.channels === undefined || f.channels.includes(channel),
  key: (f) => `freeze:${f.name}`,
  explain: (f) => `freeze "${f.name}" from ${iso(f.from)} to ${iso(f.to)}: ${f.reason}`,

  evaluate(f, ctx) {
    const now = Date.parse(ctx.now);
    if (now < Date.parse(f.from) || now >= Date.parse(f.to)) return { state: "satisfied" };
    const until = iso(f.to);
    return { state: "blocked", reason: `frozen by "${f.name}" until ${until}: ${f.reason}`, until };
  },

  validate(freezes, { application, channels }) {
    const seen = new Set<string>();
    return freezes.flatMap((f, index): ApplicationGateIssue[] => {
      const issues: ApplicationGateIssue[] = [];
      if (seen.has(f.name))
        issues.push({ index, path: ["name"], message: `freeze "${f.name}" is defined more than once` });
      seen.add(f.name);
      f.channels?.forEach((channel, i) => {
        if (!channels.includes(channel))
          issues.push({
            index,
            path: ["channels", i],
            message: `release channel "${channel}" does not exist in application "${application}"`,
          });
      });
      return issues;
    });
  },
});
