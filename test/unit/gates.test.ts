import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import * as z from "zod";
import {
  Application,
  applicationGateKinds,
  approvalsToRequest,
  configDecider,
  evaluateApplicationGates,
  evaluatePrecondition,
  explainPrecondition,
  gateKinds,
  isOverridable,
  overridableKinds,
  Precondition,
  preconditionKey,
  soakOf,
  type GateContext,
} from "../../core/index.js";
import type { EventOf } from "../../events/index.js";
import { docs } from "../support/fixtures.js";
import { specFor } from "../support/spec.js";

const ctx: GateContext = { now: "2026-11-23T10:00:00.000Z", releaseId: "r1", upstream: {}, approvals: {} };
const gate = (document: unknown) => Precondition.parse(document);
const stable = gate({ releaseChannelStable: { releaseChannel: "staging", duration: "10m" } });
const cab = gate({ manualApproval: { name: "cab", minApprovers: 2 } });
const officeHours = gate({
  deployWindow: { days: ["fri", "mon", "tue", "wed", "thu"], start: "09:00", end: "17:00", timeZone: "Europe/Berlin" },
});

describe("the gate registry", () => {
  it("turns each kind's YAML key into the model's kind, and encodes the model back into the same document", () => {
    const documents = [
      { releaseChannelStable: { releaseChannel: "staging", duration: "10m" } },
      { manualApproval: { name: "cab", minApprovers: 2 } },
      { deployWindow: { days: ["mon"], start: "22:00", end: "02:00", timeZone: "UTC" } },
    ];
    expect(documents.map(gate).map((p) => p.kind)).toEqual(["releaseChannelStable", "manualApproval", "deployWindow"]);
    for (const document of documents) expect(z.encode(Precondition, gate(document))).toEqual(document);
    expect(gate({ manualApproval: {} })).toEqual({ kind: "manualApproval", minApprovers: 1 });
  });

  it("knows each kind once, keyed by its YAML key", () => {
    const kinds = gateKinds.map((g) => g.kind);
    expect(new Set(kinds).size).toBe(kinds.length);
    expect(kinds).toEqual(["releaseChannelStable", "manualApproval", "deployWindow"]);
  });

  it("records each gate under the key its results have always been stored with", () => {
    expect(preconditionKey(stable)).toBe("releaseChannelStable:staging");
    expect(preconditionKey(cab)).toBe("manualApproval:cab");
    expect(preconditionKey(gate({ manualApproval: {} }))).toBe("manualApproval:approval");
    expect(preconditionKey(officeHours)).toBe("deployWindow");
  });

  it("evaluates each precondition with its own kind's rules", () => {
    expect(evaluatePrecondition(stable, ctx)).toEqual({
      state: "blocked",
      reason: 'release r1 has not converged in release channel "staging" yet',
    });
    expect(
      evaluatePrecondition(cab, {
        ...ctx,
        approvals: { cab: { requested: true, minApprovers: 2, grantedBy: ["alice", "bob"] } },
      }),
    ).toEqual({ state: "satisfied" });
    // Monday 10:00 UTC is 11:00 in Berlin.
    expect(evaluatePrecondition(officeHours, ctx)).toEqual({ state: "satisfied" });
  });

  it("counts pre-approvals with the gate's minimum, and a requested approval with the count it was asked with", () => {
    const early = { requested: false, grantedBy: ["alice"] };
    expect(evaluatePrecondition(cab, { ...ctx, approvals: { cab: early } })).toEqual({
      state: "blocked",
      reason: 'waiting for approval "cab": 1 of 2 approvers (alice)',
    });
    expect(
      evaluatePrecondition(cab, { ...ctx, approvals: { cab: { ...early, grantedBy: ["alice", "bob"] } } }),
    ).toEqual({ state: "satisfied" });
    expect(
      evaluatePrecondition(cab, {
        ...ctx,
        approvals: { cab: { requested: true, minApprovers: 1, grantedBy: ["bob"] } },
      }),
    ).toEqual({ state: "satisfied" });
  });

  it("counts only approvers still on the gate's list of approvers", () => {
    const listed = gate({ manualApproval: { name: "cab", minApprovers: 2, approvers: ["alice", "slack:U024BE7LH"] } });
    const approvals = { cab: { requested: true, minApprovers: 2, grantedBy: ["alice", "mallory"] } };
    expect(evaluatePrecondition(listed, { ...ctx, approvals })).toEqual({
      state: "blocked",
      reason: 'waiting for approval "cab": 1 of 2 approvers (alice)',
    });
    const both = { cab: { ...approvals.cab, grantedBy: ["alice", "slack:U024BE7LH"] } };
    expect(evaluatePrecondition(listed, { ...ctx, approvals: both })).toEqual({ state: "satisfied" });
  });

  it("takes approvers as API key names or Slack identities, and a switch for self-approval", () => {
    const document = { manualApproval: { approvers: ["release-bot", "slack:U123ABC"], allowSelfApproval: true } };
    expect(gate(document)).toEqual({
      kind: "manualApproval",
      minApprovers: 1,
      approvers: ["release-bot", "slack:U123ABC"],
      allowSelfApproval: true,
    });
    expect(z.encode(Precondition, gate(document))).toEqual({
      manualApproval: { ...document.manualApproval, minApprovers: 1 },
    });
    const bad = Precondition.safeParse({ manualApproval: { approvers: ["slack:alice"] } });
    expect(bad.success).toBe(false);
    expect(bad.error?.issues[0]?.message).toBe("must be an API key name or a Slack identity such as slack:U123ABC");
    expect(Precondition.safeParse({ manualApproval: { allowSelfApproval: "yes" } }).success).toBe(false);
  });

  it("explains each gate in a short sentence", () => {
    expect(explainPrecondition(stable)).toBe("staging stable for 10m");
    expect(explainPrecondition(gate({ releaseChannelStable: { releaseChannel: "qa" } }))).toBe("qa stable");
    expect(explainPrecondition(cab)).toBe('approval "cab" by 2 approvers');
    expect(explainPrecondition(gate({ manualApproval: {} }))).toBe('approval "approval" by 1 approver');
    expect(explainPrecondition(officeHours)).toBe("deploy window mon–fri 09:00–17:00 Europe/Berlin");
    expect(
      explainPrecondition(
        gate({ deployWindow: { days: ["sun", "sat", "mon", "wed"], start: "22:00", end: "02:00", timeZone: "UTC" } }),
      ),
    ).toBe("deploy window mon, wed, sat, sun 22:00–02:00 UTC");
  });

  it("asks for approvals only for manual approvals", () => {
    expect(approvalsToRequest(cab)).toEqual([{ approval: "cab", minApprovers: 2 }]);
    expect(approvalsToRequest(gate({ manualApproval: {} }))).toEqual([{ approval: "approval", minApprovers: 1 }]);
    expect([stable, officeHours].flatMap(approvalsToRequest)).toEqual([]);
  });

  it("imposes a soak upstream only for releaseChannelStable", () => {
    expect(soakOf(stable)).toEqual({ channel: "staging", seconds: 600 });
    expect(soakOf(gate({ releaseChannelStable: { releaseChannel: "qa" } }))).toEqual({ channel: "qa", seconds: 0 });
    expect(soakOf(cab)).toBeUndefined();
    expect(soakOf(officeHours)).toBeUndefined();
  });

  it("has every gate kind documented, with an example, in docs/config.md", () => {
    const docs = readFileSync(join(import.meta.dirname, "../../docs/config.md"), "utf8");
    const undocumented = gateKinds.map((g) => g.kind).filter((kind) => !new RegExp(`^\\s*- ${kind}:`, "m").test(docs));
    expect(undocumented).toEqual([]);
  });
});

describe("deny windows (deployWindow with deny: true)", () => {
  const at = (now: string) => ({ ...ctx, now });
  // 2026-11-27 is a Friday; Berlin is at UTC+1 in November.
  const friday = gate({
    deployWindow: { days: ["fri"], start: "15:00", end: "23:00", timeZone: "Europe/Berlin", deny: true },
  });
  const nightly = gate({
    deployWindow: { name: "nightly", days: ["mon"], start: "22:00", end: "02:00", timeZone: "UTC", deny: true },
  });

  it("blocks inside the window until it closes, and passes outside it", () => {
    expect(evaluatePrecondition(friday, at("2026-11-27T15:30:00.000Z"))).toEqual({
      state: "blocked",
      reason: "inside the deny window (fri 15:00–23:00 Europe/Berlin); it closes at 2026-11-27T22:00:00.000Z",
      until: "2026-11-27T22:00:00.000Z",
    });
    expect(evaluatePrecondition(friday, at("2026-11-27T13:59:00.000Z"))).toEqual({ state: "satisfied" });
    expect(evaluatePrecondition(friday, at("2026-11-27T22:00:00.000Z"))).toEqual({ state: "satisfied" });
    // Thursday at the same hour: not a day of the window.
    expect(evaluatePrecondition(friday, at("2026-11-26T15:30:00.000Z"))).toEqual({ state: "satisfied" });
  });

  it("closes a window that spans midnight on the day after it opened", () => {
    // 2026-11-23 is a Monday.
    for (const now of ["2026-11-23T23:00:00.000Z", "2026-11-24T01:59:00.000Z"])
      expect(evaluatePrecondition(nightly, at(now))).toMatchObject({
        state: "blocked",
        until: "2026-11-24T02:00:00.000Z",
      });
    expect(evaluatePrecondition(nightly, at("2026-11-24T02:00:00.000Z"))).toEqual({ state: "satisfied" });
    expect(evaluatePrecondition(nightly, at("2026-11-24T23:00:00.000Z"))).toEqual({ state: "satisfied" });
  });

  it("closes at the wall-clock end in its time zone across a change to summer time", () => {
    // Berlin goes from UTC+1 to UTC+2 at 02:00 on Sunday 2026-03-29: 04:00 that day is 02:00 UTC.
    const sunday = gate({
      deployWindow: { days: ["sun"], start: "01:00", end: "04:00", timeZone: "Europe/Berlin", deny: true },
    });
    expect(evaluatePrecondition(sunday, at("2026-03-29T00:30:00.000Z"))).toMatchObject({
      state: "blocked",
      until: "2026-03-29T02:00:00.000Z",
    });
  });

  it("records allow and deny windows under keys of their own, and named windows under their names", () => {
    expect(preconditionKey(officeHours)).toBe("deployWindow");
    expect(preconditionKey(friday)).toBe("deployWindow:deny");
    expect(preconditionKey(nightly)).toBe("deployWindow:nightly");
    const unnamedNightly = { days: ["mon"], start: "22:00", end: "02:00", timeZone: "UTC" };
    expect(preconditionKey(gate({ deployWindow: { ...unnamedNightly, name: "late", deny: false } }))).toBe(
      "deployWindow:late",
    );
    expect(explainPrecondition(friday)).toBe("deny window fri 15:00–23:00 Europe/Berlin");
    expect(explainPrecondition(nightly)).toBe('deny window "nightly" mon 22:00–02:00 UTC');
  });

  it("keeps deny: true in the document it encodes back", () => {
    const document = { deployWindow: { days: ["fri"], start: "15:00", end: "23:00", timeZone: "UTC", deny: true } };
    expect(z.encode(Precondition, gate(document))).toEqual(document);
  });
});

describe("freezes (the application's own gates)", () => {
  const withFreezes = (freezes: object[]) => Application.parse({ ...docs.shop.application, freezes });
  const xmas = {
    name: "xmas",
    from: "2026-12-24T00:00:00+01:00",
    to: "2026-12-27T00:00:00+01:00",
    reason: "holidays: nobody is on call",
    channels: ["production"],
  };
  const shop = withFreezes([
    xmas,
    { name: "migration", from: "2026-11-23T09:00:00Z", to: "2026-11-23T12:00:00Z", reason: "database move" },
  ]);

  it("blocks the channels a freeze names, until its end, naming it and saying why", () => {
    const during = { ...ctx, now: "2026-12-25T10:00:00.000Z" };
    expect(evaluateApplicationGates(shop, "production", during)).toEqual([
      {
        key: "freeze:xmas",
        result: {
          state: "blocked",
          reason: 'frozen by "xmas" until 2026-12-26T23:00:00.000Z: holidays: nobody is on call',
          until: "2026-12-26T23:00:00.000Z",
        },
      },
      { key: "freeze:migration", result: { state: "satisfied" } },
    ]);
    // A freeze without channels holds every channel; one with channels only those.
    expect(evaluateApplicationGates(shop, "staging", during)).toEqual([
      { key: "freeze:migration", result: { state: "satisfied" } },
    ]);
    expect(evaluateApplicationGates(shop, "staging", ctx)).toEqual([
      {
        key: "freeze:migration",
        result: {
          state: "blocked",
          reason: 'frozen by "migration" until 2026-11-23T12:00:00.000Z: database move',
          until: "2026-11-23T12:00:00.000Z",
        },
      },
    ]);
  });

  it("passes before a freeze begins and from the instant it ends", () => {
    for (const now of ["2026-12-23T22:59:59.999Z", "2026-12-26T23:00:00.000Z"])
      expect(evaluateApplicationGates(shop, "production", { ...ctx, now })[0]?.result).toEqual({ state: "satisfied" });
    expect(
      evaluateApplicationGates(shop, "production", { ...ctx, now: "2026-12-23T23:00:00.000Z" })[0]?.result,
    ).toMatchObject({
      state: "blocked",
    });
  });

  it("has no gates for an application without freezes", () => {
    expect(evaluateApplicationGates(Application.parse(docs.shop.application), "production", ctx)).toEqual([]);
  });

  const stored: EventOf<"ConfigApplied">[] = [
    { type: "ConfigApplied", data: { kind: "runtime", name: "k8s-staging", version: 1, spec: docs.staging.runtime } },
    {
      type: "ConfigApplied",
      data: { kind: "runtime", name: "k8s-production", version: 1, spec: docs.production.runtime },
    },
  ];
  const refused = (freezes: object[]) =>
    specFor(configDecider)(stored)
      .when({ type: "ApplyConfig", documents: [{ application: { ...docs.shop.application, freezes } }] })
      .thenError("config.invalid", 400).issues;

  it("refuses a freeze that ends before it starts, or without an offset, naming the field", () => {
    expect(refused([{ ...xmas, to: "2026-12-23T00:00:00+01:00" }])).toEqual([
      {
        path: "application.freezes[0].to",
        message: "application.freezes[0].to must be later than the start of the freeze (from)",
      },
    ]);
    expect(refused([{ ...xmas, from: "2026-12-24T00:00:00" }])).toEqual([
      {
        path: "application.freezes[0].from",
        message:
          "application.freezes[0].from must be an RFC 3339 time with a UTC offset, such as 2026-12-24T00:00:00+01:00",
      },
    ]);
  });

  it("refuses a freeze of a channel that does not exist, and two freezes of one name", () => {
    expect(
      refused([
        { ...xmas, channels: ["production", "qa"] },
        { ...xmas, channels: undefined },
      ]),
    ).toEqual([
      {
        path: "application.freezes[0].channels[1]",
        message: 'release channel "qa" does not exist in application "shop"',
      },
      { path: "application.freezes[1].name", message: 'freeze "xmas" is defined more than once' },
    ]);
  });

  it("refuses two deploy windows of one channel recorded under one key", () => {
    const app = structuredClone(docs.shop.application) as { releaseChannels: { preconditions?: object[] }[] };
    const window = { days: ["fri"], start: "15:00", end: "23:00", timeZone: "UTC" };
    app.releaseChannels[1]!.preconditions = [
      { deployWindow: window },
      { deployWindow: { ...window, deny: true } },
      { deployWindow: { ...window, deny: true } },
      { deployWindow: { ...window, name: "late" } },
      { deployWindow: { ...window, name: "late", deny: true } },
    ];
    const issues = specFor(configDecider)(stored)
      .when({ type: "ApplyConfig", documents: [{ application: app }] })
      .thenError("config.invalid", 400).issues;
    expect(issues).toEqual([
      {
        path: "application.releaseChannels[1].preconditions[2].deployWindow.name",
        message: "a channel with several deny windows must name each of them (see preconditions[1])",
      },
      {
        path: "application.releaseChannels[1].preconditions[4].deployWindow.name",
        message: 'deploy window "late" is defined more than once (also preconditions[3])',
      },
    ]);
  });

  it("has every application gate kind documented in docs/config.md", () => {
    const text = readFileSync(join(import.meta.dirname, "../../docs/config.md"), "utf8");
    const undocumented = applicationGateKinds
      .map((g) => g.field)
      .filter((f) => !new RegExp(`^\\s*${f}:`, "m").test(text));
    expect(undocumented).toEqual([]);
  });
});

describe("overrides", () => {
  it("are declared per gate kind: soaks and approvals may be overridden, windows and freezes may not", () => {
    expect(overridableKinds()).toEqual(["releaseChannelStable", "manualApproval"]);
    expect(
      ["releaseChannelStable:staging", "manualApproval:cab", "manualApproval:approval"].map(isOverridable),
    ).toEqual([true, true, true]);
    expect(["deployWindow", "deployWindow:deny", "deployWindow:late", "freeze:xmas"].map(isOverridable)).toEqual([
      false,
      false,
      false,
      false,
    ]);
    // Gates no kind declares are not judgement calls.
    expect(["protectSoak", "render", "rollback", "nonsense"].map(isOverridable)).toEqual([false, false, false, false]);
  });
});
