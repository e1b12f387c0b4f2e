import { describe, it } from "vitest";
import { releaseDecider } from "../../core/index.js";
import { releaseCreated } from "../support/fixtures.js";
import { specFor } from "../support/spec.js";

const spec = specFor(releaseDecider);
type E = Parameters<typeof spec>[0][number];

const created: E = releaseCreated("r1");
const inProduction = { releaseId: "r1", channel: "production" };
const bad: E = { type: "ReleaseMarkedBad", data: { releaseId: "r1", reason: "corrupts orders" } };
const promote = (hold: number) => ({
  type: "RequestExplicitPromotion" as const,
  channel: "production",
  reason: "fixed upstream",
  hold,
});
const requested = (hold: number): E => ({
  type: "ExplicitPromotionRequested",
  data: { ...inProduction, reason: "fixed upstream", hold },
});

describe("marking a release bad", () => {
  it("records it once", () => {
    spec([created]).when({ type: "MarkReleaseBad", reason: "corrupts orders" }).then([bad]);
    spec([created, bad]).when({ type: "MarkReleaseBad", reason: "again" }).thenNothing();
  });
  it("works for an abandoned release too, and refuses one that does not exist", () => {
    spec([created, { type: "ReleaseAbandoned", data: { releaseId: "r1" } }])
      .when({ type: "MarkReleaseBad", reason: "corrupts orders" })
      .then([bad]);
    spec([]).when({ type: "MarkReleaseBad", reason: "x" }).thenError("release.not_found", 404);
  });
});

describe("explicit promotion past a rollback hold", () => {
  it("enters the channel and records the request in one append", () => {
    spec([created])
      .when(promote(1))
      .then([{ type: "PromotionStarted", data: inProduction }, requested(1)]);
  });
  it("records each hold once: the same hold again is nothing, the next hold is new", () => {
    const given = [created, { type: "PromotionStarted", data: inProduction } as E, requested(1)];
    spec(given).when(promote(1)).thenNothing();
    spec(given)
      .when(promote(2))
      .then([requested(2)]);
  });
  it("refuses a release marked bad, superseded there, or abandoned", () => {
    spec([created, bad]).when(promote(1)).thenError("release.bad", 409);
    spec([created, { type: "ReleaseSuperseded", data: { ...inProduction, supersededBy: "r2" } }])
      .when(promote(1))
      .thenError("release.superseded", 409);
    spec([created, { type: "ReleaseAbandoned", data: { releaseId: "r1" } }])
      .when(promote(1))
      .thenError("release.abandoned", 409);
  });
});
