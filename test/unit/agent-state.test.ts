import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { FileState, MAX_BYTES, MAX_FINISHED, MAX_MESSAGE, prune, type AgentState } from "../../agent/state.js";

/** The agent's memory of finished instructions is bounded, newest kept, and survives a restart. */
const at = (i: number) => new Date(Date.UTC(2026, 0, 1) + i * 1000).toISOString();
const state = (n: number, message = "rolled out api"): AgentState => ({
  done: Object.fromEntries(
    Array.from({ length: n }, (_, i) => [
      `shop.staging.r${i}.k8s`,
      { status: "succeeded" as const, message, at: at(i) },
    ]),
  ),
  running: { "k8s/api": { service: "api", runtime: "k8s", releaseId: "r9", images: ["a:1"], deployments: [] } },
});

describe("the agent's state", () => {
  it("keeps the newest MAX_FINISHED outcomes and everything that runs", () => {
    const pruned = prune(state(MAX_FINISHED + 50));
    const ids = Object.keys(pruned.done);
    expect(ids).toHaveLength(MAX_FINISHED);
    expect(ids).toContain(`shop.staging.r${MAX_FINISHED + 49}.k8s`);
    expect(ids).not.toContain("shop.staging.r49.k8s");
    expect(ids).toContain("shop.staging.r50.k8s");
    expect(pruned.running).toEqual(state(1).running);
  });

  it("stays within MAX_BYTES however long the messages are, cutting each to its last MAX_MESSAGE characters", () => {
    const pruned = prune(state(MAX_FINISHED, `${"x".repeat(5000)}END`));
    expect(JSON.stringify(pruned).length).toBeLessThanOrEqual(MAX_BYTES);
    const newest = pruned.done[`shop.staging.r${MAX_FINISHED - 1}.k8s`]!;
    expect(newest.message).toHaveLength(MAX_MESSAGE);
    expect(newest.message.endsWith("END")).toBe(true);
  });

  it("leaves a small state as it is", () => {
    expect(prune(state(3))).toEqual(state(3));
  });

  it("saves to a private file and loads it back; outcomes saved before they had a time load as the oldest", async () => {
    const dir = mkdtempSync(join(tmpdir(), "agent-state-"));
    try {
      const file = new FileState(join(dir, "sub", "state.json"));
      expect(await file.load()).toEqual({ done: {}, running: {} });
      await file.save(state(2));
      expect(await file.load()).toEqual(state(2));
      expect(statSync(join(dir, "sub", "state.json")).mode & 0o777).toBe(0o600);
      const legacy = join(dir, "legacy.json");
      await new FileState(legacy).save(state(0));
      writeFileSync(legacy, JSON.stringify({ done: { old: { status: "failed", message: "m" } } }));
      expect((await new FileState(legacy).load()).done.old).toEqual({
        status: "failed",
        message: "m",
        at: "1970-01-01T00:00:00.000Z",
      });
      expect(readFileSync(legacy, "utf8")).toContain("old");
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
