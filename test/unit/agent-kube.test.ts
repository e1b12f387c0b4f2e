import type { V1Deployment, V1Job } from "@kubernetes/client-node";
import { describe, expect, it } from "vitest";
import { jobOutcome, rolloutOutcome } from "../../agent/kube.js";

/** When the agent counts a rollout or a Job as done: `kubectl rollout status`'s and `kubectl wait`'s rules. */
const deployment = (generation: number, status: V1Deployment["status"], replicas = 2): V1Deployment => ({
  metadata: { name: "api", generation },
  spec: { replicas, selector: {}, template: {} },
  status,
});

describe("rollout and job outcomes", () => {
  it("waits until the newest template is observed and every replica is updated and available, none old left", () => {
    expect(
      rolloutOutcome(deployment(2, { observedGeneration: 1, updatedReplicas: 2, availableReplicas: 2, replicas: 2 })),
    ).toBeUndefined();
    expect(
      rolloutOutcome(deployment(2, { observedGeneration: 2, updatedReplicas: 1, availableReplicas: 2, replicas: 2 })),
    ).toBeUndefined();
    expect(
      rolloutOutcome(deployment(2, { observedGeneration: 2, updatedReplicas: 2, availableReplicas: 2, replicas: 3 })),
    ).toBeUndefined();
    expect(
      rolloutOutcome(deployment(2, { observedGeneration: 2, updatedReplicas: 2, availableReplicas: 1, replicas: 2 })),
    ).toBeUndefined();
    expect(
      rolloutOutcome(deployment(2, { observedGeneration: 2, updatedReplicas: 2, availableReplicas: 2, replicas: 2 })),
    ).toEqual({
      status: "succeeded",
      message: "rolled out api",
    });
  });

  it("fails a rollout past its progress deadline, saying so", () => {
    const stuck = deployment(1, {
      observedGeneration: 1,
      updatedReplicas: 1,
      replicas: 2,
      conditions: [
        {
          type: "Progressing",
          status: "False",
          reason: "ProgressDeadlineExceeded",
          message: 'ReplicaSet "api-7d" has timed out progressing.',
        },
      ],
    });
    expect(rolloutOutcome(stuck)).toEqual({
      status: "failed",
      message: 'deployment/api exceeded its progress deadline: ReplicaSet "api-7d" has timed out progressing.',
    });
  });

  it("ends a Job on its Complete or Failed condition, and not before", () => {
    const job = (conditions: { type: string; status: string; reason?: string }[]): V1Job => ({
      metadata: { name: "migrate" },
      status: { conditions },
    });
    expect(jobOutcome(job([]))).toBeUndefined();
    expect(jobOutcome(job([{ type: "Complete", status: "False" }]))).toBeUndefined();
    expect(jobOutcome(job([{ type: "Complete", status: "True" }]))).toEqual({
      status: "succeeded",
      message: "job/migrate completed",
    });
    expect(jobOutcome(job([{ type: "Failed", status: "True", reason: "BackoffLimitExceeded" }]))).toEqual({
      status: "failed",
      message: "job/migrate failed: BackoffLimitExceeded",
    });
  });
});
