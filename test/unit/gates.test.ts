import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { z } from "zod";
import {
  approvalsToRequest,
  evaluatePrecondition,
  explainPrecondition,
  gateKinds,
  Precondition,
  preconditionKey,
  soakOf,
  type GateContext,
} from "../../core/index.js";

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
      evaluatePrecondition(cab, { ...ctx, approvals: { cab: { minApprovers: 2, grantedBy: ["alice", "bob"] } } }),
    ).toEqual({ state: "satisfied" });
    // Monday 10:00 UTC is 11:00 in Berlin.
    expect(evaluatePrecondition(officeHours, ctx)).toEqual({ state: "satisfied" });
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
