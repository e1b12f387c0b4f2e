import { describe, expect, it } from "vitest";
import { PROTECTED_STAGES, stagePolicy } from "../../infra/stage.js";

/** The stage rule sst.config.ts and infra/*.ts deploy by (test/sst/ checks that they do). */
describe("stagePolicy", () => {
  const protectedStage = { protect: true, removal: "retain", logRetention: "1 month", logRetentionDays: 30 };
  const ordinaryStage = { protect: false, removal: "remove", logRetention: "1 week", logRetentionDays: 7 };

  it.each(["prod", "production", "Prod", "PRODUCTION"])("protects and retains the stage %j by its name", (stage) => {
    expect(stagePolicy(stage, {})).toEqual({ ...protectedStage, alarmEmail: undefined });
  });

  it("names exactly prod and production", () => {
    expect(PROTECTED_STAGES).toEqual(["prod", "production"]);
  });

  it.each(["ci", "dev", "staging", "preprod", "production-copy", "alice"])("leaves %j removable", (stage) => {
    expect(stagePolicy(stage, {})).toEqual({ ...ordinaryStage, alarmEmail: undefined });
  });

  it.each(["true", "TRUE", "1", " true "])("protects any stage with SLIPWAY_PROTECT=%j", (flag) => {
    expect(stagePolicy("staging", { SLIPWAY_PROTECT: flag })).toMatchObject(protectedStage);
  });

  it.each(["false", "0", ""])("does not protect with SLIPWAY_PROTECT=%j, nor unprotect prod", (flag) => {
    expect(stagePolicy("staging", { SLIPWAY_PROTECT: flag })).toMatchObject(ordinaryStage);
    expect(stagePolicy("prod", { SLIPWAY_PROTECT: flag })).toMatchObject(protectedStage);
  });

  it("refuses a SLIPWAY_PROTECT it cannot read rather than guess", () => {
    expect(() => stagePolicy("staging", { SLIPWAY_PROTECT: "yes" })).toThrow(
      'SLIPWAY_PROTECT must be true or false, not "yes"',
    );
  });

  it("reads only its own parameters from the environment it is handed", () => {
    expect(stagePolicy("ci", { PATH: "/usr/bin", PROTECT: "true", SLIPWAY_PROTECT: undefined })).toMatchObject(
      ordinaryStage,
    );
  });

  it("takes the alarm email from SLIPWAY_ALARM_EMAIL, trimmed; unset or blank is none", () => {
    expect(stagePolicy("ci", { SLIPWAY_ALARM_EMAIL: " ops@example.com " }).alarmEmail).toBe("ops@example.com");
    expect(stagePolicy("ci", { SLIPWAY_ALARM_EMAIL: "" }).alarmEmail).toBeUndefined();
    expect(stagePolicy("ci", { SLIPWAY_ALARM_EMAIL: "  " }).alarmEmail).toBeUndefined();
  });

  it.each(["ops", "ops@example", "a@example.com,b@example.com", "ops @example.com"])(
    "refuses SLIPWAY_ALARM_EMAIL=%j: not one address",
    (email) => {
      expect(() => stagePolicy("ci", { SLIPWAY_ALARM_EMAIL: email })).toThrow(/SLIPWAY_ALARM_EMAIL must be one email/);
    },
  );
});
