import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openPipeline, type Pipeline } from "../support/pipeline.js";
import { eventually } from "../support/wait.js";

let p: Pipeline;

beforeAll(async () => {
  p = await openPipeline("soak");
});
afterAll(async () => {
  await p?.close();
});

const RUNS = Number(process.env.SOAK_RUNS ?? 20);

describe("protectSoak at the soak's end", () => {
  it(`lets production take the soaking release before staging takes the newer one (${RUNS} pipelines at once)`, async () => {
    const outcomes = await Promise.all(
      Array.from({ length: RUNS }, async (_, n) => {
        const app = `soak${n}`;
        await p.application(app, {
          staging: { protectSoak: true },
          production: { preconditions: [{ releaseChannelStable: { releaseChannel: "staging", duration: "2s" } }] },
        });
        const r1 = await p.release(app, "1.0.0");
        await eventually(() => p.convergedOn(app, "staging", r1), 60_000);
        const r2 = await p.release(app, "2.0.0");
        // At the soak's end both gates open at once: r1's stability in production, r2's hold in staging.
        try {
          await eventually(
            async () => (await p.convergedOn(app, "production", r1)) && (await p.convergedOn(app, "staging", r2)),
            60_000,
          );
        } catch (err) {
          const brief = (events: { type: string; data: unknown }[]) =>
            events.map((e) => `${e.type} ${JSON.stringify(e.data).slice(0, 160)}`);
          console.log(app, r1, r2, {
            staging: brief(await p.channelEvents(app, "staging")),
            production: brief(await p.channelEvents(app, "production")),
            r1: brief(await p.releaseEvents(r1)),
            r2: brief(await p.releaseEvents(r2)),
          });
          throw err;
        }
        const dispatchedAt = async (channel: string, releaseId: string) =>
          (await p.channelEvents(app, channel)).find(
            (e) => e.type === "InstructionDispatched" && e.data.releaseId === releaseId,
          )!.occurredAt;
        return { app, production: await dispatchedAt("production", r1), staging: await dispatchedAt("staging", r2) };
      }),
    );
    const misordered = outcomes.filter((o) => o.staging < o.production);
    expect(misordered).toEqual([]);
    expect(outcomes).toHaveLength(RUNS);
  }, 180_000);
});
