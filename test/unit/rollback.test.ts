import { describe, expect, it } from "vitest";
import {
  channelDecider,
  fold,
  planPromotion,
  planRollback,
  releaseDecider,
  type RollbackInput,
  type Runtime,
} from "../../core/index.js";
import type { DomainEvent } from "../../events/index.js";
import { liveInStaging, parsed } from "../support/fixtures.js";
import { refusal } from "../support/spec.js";

const runtimes = new Map<string, Runtime>([
  ["k8s-staging", parsed.staging],
  ["k8s-production", parsed.production],
]);
const image = (releaseId: string) => `registry.example.com/shop/api:${releaseId}`;
const created = (releaseId: string, service = "api", application = "shop"): DomainEvent => ({
  type: "ReleaseCreated",
  data: {
    releaseId,
    application,
    service,
    params: { image: image(releaseId) },
    source: {},
    channels: ["staging", "production"],
    configVersions: { application: 1, service: 1 },
  },
});
const release = (...events: DomainEvent[]) => fold(releaseDecider, events);
const payload = { kind: "kubernetes" as const, manifests: ["m"] };
const id = (releaseId: string) => `shop.staging.${releaseId}.k8s-staging`;
// r1 ran in staging, then r2 replaced it; r3 was dispatched and failed.
const history: DomainEvent[] = [
  ...liveInStaging("r1"),
  ...liveInStaging("r2"),
  {
    type: "InstructionDispatched",
    data: {
      application: "shop",
      channel: "staging",
      service: "api",
      releaseId: "r3",
      runtime: "k8s-staging",
      instructionId: id("r3"),
      payload,
      rollback: false,
    },
  },
  {
    type: "ApplyFailed",
    data: { instructionId: id("r3"), runtime: "k8s-staging", releaseId: "r3", message: "CrashLoopBackOff" },
  },
];
const unrenderable = { ...parsed.api, kubernetesConfig: { manifests: ["image: {{.Params.image}}:{{.Params.tag}}"] } };
const input = (over: Partial<RollbackInput> = {}): RollbackInput => ({
  application: parsed.shop,
  channel: "staging",
  service: parsed.api,
  runtimes,
  release: release(created("r1")),
  channelState: fold(channelDecider, history),
  ...over,
});

describe("rollback planning", () => {
  it("plans the channel command, rendered from the release's own parameters, under fresh instruction ids", () => {
    const command = planRollback(input({ reason: "error rate up" }));
    expect(command).toEqual({
      type: "RollbackService",
      application: "shop",
      channel: "staging",
      service: "api",
      toReleaseId: "r1",
      reason: "error rate up",
      // r1's first instruction keeps its id; agents apply an id once, so this one is numbered past it.
      instructions: [
        {
          instructionId: `${id("r1")}.1`,
          runtime: "k8s-staging",
          payload: { kind: "kubernetes", manifests: [expect.stringContaining(`image: "${image("r1")}"`)] },
        },
      ],
    });
    expect(planRollback(input())).not.toHaveProperty("reason");
  });

  it("plans a command the channel carries out as a rollback", () => {
    const events = channelDecider.decide(planRollback(input()), input().channelState);
    expect(events).toEqual([
      {
        type: "ReleaseRolledBack",
        data: { application: "shop", channel: "staging", service: "api", fromReleaseId: "r3", toReleaseId: "r1" },
      },
      expect.objectContaining({
        type: "InstructionDispatched",
        data: expect.objectContaining({ releaseId: "r1", instructionId: `${id("r1")}.1`, rollback: true }),
      }),
    ]);
  });

  it("numbers instructions the same way promotion does: a release promoted again after a rollback gets fresh ids too", () => {
    const rolledBack = fold(channelDecider, [
      ...history,
      ...channelDecider.decide(planRollback(input()), input().channelState),
    ]);
    expect(planRollback(input({ channelState: rolledBack })).instructions.map((i) => i.instructionId)).toEqual([
      `${id("r1")}.2`,
    ]);
    // A rollback holds r2 back; an operator promotes it explicitly past that hold.
    const r2 = release(
      created("r2"),
      { type: "PromotionStarted", data: { releaseId: "r2", channel: "staging" } },
      { type: "ExplicitPromotionRequested", data: { releaseId: "r2", channel: "staging", reason: "fixed", hold: 1 } },
    );
    const plan = planPromotion({
      now: "2026-11-23T10:00:00.000Z",
      application: parsed.shop,
      service: parsed.api,
      runtimes,
      release: r2,
      channel: "staging",
      channels: { staging: rolledBack },
    });
    expect(plan.action === "deploy" && plan.instructions?.map((i) => i.instructionId)).toEqual([`${id("r2")}.1`]);
  });

  it("refuses a release that does not exist, or is of another service or application", () => {
    for (const r of [release(), release(created("r1", "web")), release(created("r1", "api", "bank"))]) {
      const err = refusal(() => planRollback(input({ release: r })));
      expect([err.code, err.status]).toEqual(["release.not_found", 404]);
    }
    expect(refusal(() => planRollback(input({ release: release(created("r1", "web")) }))).message).toBe(
      'release r1 of service "api" does not exist in application "shop"',
    );
  });

  it("refuses a release that never converged in the channel, before rendering anything", () => {
    for (const r of ["r3", "r9"]) {
      const err = refusal(() => planRollback(input({ release: release(created(r)) })));
      expect([err.code, err.status]).toEqual(["rollback.unknown_release", 409]);
    }
    // Production never ran r1.
    expect(
      refusal(() => planRollback(input({ channel: "production", channelState: fold(channelDecider, []) }))).code,
    ).toBe("rollback.unknown_release");
    // The refusal names the real problem, not a render error it would have run into.
    expect(refusal(() => planRollback(input({ release: release(created("r3")), service: unrenderable }))).code).toBe(
      "rollback.unknown_release",
    );
  });

  it("refuses to roll back to a release marked bad", () => {
    const bad = release(created("r1"), {
      type: "ReleaseMarkedBad",
      data: { releaseId: "r1", reason: "corrupts orders" },
    });
    const err = refusal(() => planRollback(input({ release: bad })));
    expect([err.code, err.status]).toEqual(["rollback.bad_release", 409]);
  });

  it("refuses a channel the application does not have, and reports a release that cannot be rendered", () => {
    expect(refusal(() => planRollback(input({ channel: "qa" }))).code).toBe("channel.not_found");
    const err = refusal(() => planRollback(input({ service: unrenderable })));
    expect([err.code, err.status]).toEqual(["render.failed", 400]);
  });
});
