/**
 * What a stage gets, decided once from its name and the deploying shell's parameters: sst.config.ts
 * takes `protect` and `removal` from it, infra/*.ts the log retention and the alarm email, and
 * infra/tools/sst-checks.ts checks the deployment against it. Pure data in, settings out: no SST
 * globals, no process.env (the callers hand it in), so the tests call it as it is.
 */

/** Stages protected by their name alone, whatever SLIPWAY_PROTECT says. */
export const PROTECTED_STAGES = ["prod", "production"] as const;

/** The deploy parameters, read from the shell that runs `sst deploy` (see the README's "Deploying to AWS"). */
export const DEPLOY_PARAMETERS = [
  /** `true` protects and retains any stage (a staging stage that holds real data, say). */
  "SLIPWAY_PROTECT",
  /** An address subscribed (by email) to the alarm topic; AWS asks it to confirm once. */
  "SLIPWAY_ALARM_EMAIL",
] as const;

/** The deploying shell's environment (`process.env`), or any part of it: only DEPLOY_PARAMETERS are read. */
export type DeployParameters = Readonly<Record<string, string | undefined>>;

export type StagePolicy = {
  /** `sst remove` refuses the stage. */
  protect: boolean;
  /** "retain" keeps the tables (the event log above all) when the stage or a resource is removed. */
  removal: "retain" | "remove";
  /** Every Lambda's and API's log group keeps this long (SST's retention names). */
  logRetention: "1 month" | "1 week";
  logRetentionDays: 30 | 7;
  /** Subscribed to the alarm topic when set. */
  alarmEmail: string | undefined;
};

export function stagePolicy(stage: string, parameters: DeployParameters): StagePolicy {
  const flagged = parseFlag("SLIPWAY_PROTECT", parameters.SLIPWAY_PROTECT);
  const protect = (PROTECTED_STAGES as readonly string[]).includes(stage.toLowerCase()) || flagged;
  const email = parameters.SLIPWAY_ALARM_EMAIL?.trim() || undefined;
  if (email !== undefined && !/^[^\s@,;]+@[^\s@,;]+\.[^\s@,;]+$/.test(email))
    throw new Error(`SLIPWAY_ALARM_EMAIL must be one email address, not "${email}"`);
  return {
    protect,
    removal: protect ? "retain" : "remove",
    logRetention: protect ? "1 month" : "1 week",
    logRetentionDays: protect ? 30 : 7,
    alarmEmail: email,
  };
}

/** Unset or empty is false; anything but true/false/1/0 is refused rather than guessed at. */
function parseFlag(name: string, value: string | undefined): boolean {
  const v = value?.trim().toLowerCase() ?? "";
  if (v === "" || v === "false" || v === "0") return false;
  if (v === "true" || v === "1") return true;
  throw new Error(`${name} must be true or false, not "${value}"`);
}
