import * as z from "zod";

/**
 * Field types shared by the config schema and the gate kinds. They live apart from schema.ts
 * because schema.ts assembles preconditions from the gate registry, whose entries need these.
 */

export const NAME_PATTERN = /^[a-z]([a-z0-9-]*[a-z0-9])?$/;

/**
 * Names a plain object already answers to (`constructor`, `__proto__`, `toString`…). State keyed by
 * user-chosen names is kept in plain objects, so such names are refused wherever names come in.
 */
export const RESERVED_NAMES: ReadonlySet<string> = new Set([
  ...Object.getOwnPropertyNames(Object.prototype),
  "__proto__",
  "prototype",
]);
export const notReserved = (name: string) => !RESERVED_NAMES.has(name);
const RESERVED = { error: "is a reserved name (a property every JavaScript object has); choose another" };

export const Name = z
  .string({ error: "must be a string" })
  .max(63, { error: "must be at most 63 characters" })
  .regex(NAME_PATTERN, {
    error: "must be lowercase letters, digits and '-', start with a letter and not end with '-'",
  })
  .refine(notReserved, RESERVED);

const DURATION_PATTERN = /^(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$/;
export const Duration = z
  .string()
  .regex(DURATION_PATTERN, { error: "must be a duration such as 30s, 10m or 1h30m" })
  .refine((s) => s !== "", { error: "must not be empty" });

/** Seconds in a duration such as `1h30m`. */
export function durationSeconds(duration: string): number {
  const m = DURATION_PATTERN.exec(duration);
  if (!m) throw new Error(`not a duration: ${duration}`);
  const [, d = "0", h = "0", min = "0", s = "0"] = m;
  return ((Number(d) * 24 + Number(h)) * 60 + Number(min)) * 60 + Number(s);
}

export const Weekday = z.enum(["mon", "tue", "wed", "thu", "fri", "sat", "sun"]);
export type Weekday = z.infer<typeof Weekday>;

export const ClockTime = z.string().regex(/^([01]\d|2[0-3]):[0-5]\d$/, { error: "must be a time of day as HH:MM" });

export const TimeZone = z.string().refine(isTimeZone, { error: "must be an IANA time zone such as Europe/Berlin" });

function isTimeZone(tz: string): boolean {
  try {
    new Intl.DateTimeFormat("en-US", { timeZone: tz });
    return true;
  } catch {
    return false;
  }
}

/**
 * A refinement for objects that hold exactly one of several keys, each naming a kind of thing
 * (a runtime's kind, a precondition's gate): YAML users pick the kind by the key they write.
 */
export function exactlyOne<T extends object>(keys: readonly (keyof T & string)[], what: string) {
  return (value: T, ctx: z.RefinementCtx) => {
    const present = keys.filter((k) => value[k] !== undefined);
    if (present.length !== 1) {
      ctx.addIssue({
        code: "custom",
        path: [],
        message:
          present.length === 0
            ? `must define ${what}: one of ${keys.join(", ")}`
            : `must define only one of ${keys.join(", ")}, not ${present.join(" and ")}`,
      });
    }
  };
}
