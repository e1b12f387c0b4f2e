import { describe, expect, it } from "vitest";
import {
  Application,
  approvalPolicyOf,
  releaseInChannel,
  type ChannelState,
  type ServiceInChannel,
} from "../../core/index.js";
import { docs, parsed } from "../support/fixtures.js";

const channel = (api: Partial<ServiceInChannel>, instructions: ChannelState["instructions"] = {}): ChannelState => ({
  services: { api: { history: [], ...api } },
  instructions,
});
const sent = (releaseId: string) => ({
  [`i-${releaseId}`]: {
    instructionId: `i-${releaseId}`,
    service: "api",
    releaseId,
    runtime: "k8s-production",
    status: "succeeded" as const,
  },
});

describe("what an approval decision learns from the channel", () => {
  it("sees a release the channel never took as waiting", () => {
    expect(releaseInChannel(undefined, "api", "r2")).toEqual({ state: "waiting" });
    expect(releaseInChannel(channel({}), "api", "r2")).toEqual({ state: "waiting" });
    expect(
      releaseInChannel(channel({ desired: { releaseId: "r1", instructionIds: [], rollback: false } }), "api", "r2"),
    ).toEqual({ state: "waiting" });
  });

  it("sees a release the channel took as deployed, whether it is on its way or converged", () => {
    const desired = { releaseId: "r2", instructionIds: ["i-r2"], rollback: false };
    expect(releaseInChannel(channel({ desired }, sent("r2")), "api", "r2")).toEqual({ state: "deployed" });
    expect(releaseInChannel(channel({ desired, converged: "r2", history: ["r2"] }), "api", "r2")).toEqual({
      state: "deployed",
    });
  });

  it("tells a rollback away from the release from a newer release replacing it", () => {
    const back = channel({ desired: { releaseId: "r1", instructionIds: [], rollback: true }, history: ["r1", "r2"] });
    expect(releaseInChannel(back, "api", "r2")).toEqual({ state: "rolledBack", to: "r1" });
    const newer = channel({ desired: { releaseId: "r3", instructionIds: [], rollback: false } }, sent("r2"));
    expect(releaseInChannel(newer, "api", "r2")).toEqual({ state: "replaced", by: "r3" });
  });

  it("sees a newer release in the channel as superseding one it never took", () => {
    const newer = channel({ desired: { releaseId: "r3", instructionIds: [], rollback: false } });
    expect(releaseInChannel(newer, "api", "r2")).toEqual({ state: "superseded", by: "r3" });
    // A rollback to an older release supersedes nothing: a newer release may still go there.
    const back = channel({ desired: { releaseId: "r1", instructionIds: [], rollback: true } });
    expect(releaseInChannel(back, "api", "r2")).toEqual({ state: "waiting" });
  });
});

describe("an approval's policy, from the channel's current config", () => {
  it("finds the manual approval by name, with who may decide it", () => {
    expect(approvalPolicyOf(parsed.shop, "production", "approval")).toEqual({
      minApprovers: 1,
      approvers: [],
      allowSelfApproval: false,
    });
    const shop = Application.parse({
      ...docs.shop.application,
      releaseChannels: [
        docs.shop.application.releaseChannels[0],
        {
          ...docs.shop.application.releaseChannels[1],
          preconditions: [
            { manualApproval: { name: "cab", minApprovers: 2, approvers: ["alice", "slack:U1AB"] } },
            { manualApproval: { name: "owner", allowSelfApproval: true } },
          ],
        },
      ],
    });
    expect(approvalPolicyOf(shop, "production", "cab")).toEqual({
      minApprovers: 2,
      approvers: ["alice", "slack:U1AB"],
      allowSelfApproval: false,
    });
    expect(approvalPolicyOf(shop, "production", "owner")?.allowSelfApproval).toBe(true);
  });

  it("finds none for an approval the channel does not define", () => {
    expect(approvalPolicyOf(parsed.shop, "production", "cab")).toBeUndefined();
    expect(approvalPolicyOf(parsed.shop, "staging", "approval")).toBeUndefined();
    expect(approvalPolicyOf(parsed.shop, "canary", "approval")).toBeUndefined();
  });
});
