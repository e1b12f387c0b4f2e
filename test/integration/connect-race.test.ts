import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { streams } from "../../core/index.js";
import { connect } from "../../functions/agent-socket.js";
import { functions } from "../../infra/functions.js";
import { FakeAgent } from "../support/fake-agent.js";
import { openPipeline, type Pipeline } from "../support/pipeline.js";
import { eventually, until } from "../support/wait.js";

/**
 * An agent whose $connect is still running when the reactor re-sends to it: API Gateway (and the
 * local gateway) answer 410 to posts until $connect returns, so the push finds the connection
 * "gone" although it is only opening. The lease must survive that, and the instruction arrive once
 * the connection is open.
 */
let p: Pipeline;
/** How long $connect goes on after granting the lease (a slow cold start, a slow read model write). */
let lingerMs = 0;

beforeAll(async () => {
  p = await openPipeline("connect-race", {
    functions: {
      ...functions,
      websocketRoutes: {
        ...functions.websocketRoutes,
        $connect: async (event: Parameters<typeof connect>[0]) => {
          const result = await connect(event);
          await new Promise((r) => setTimeout(r, lingerMs));
          return result;
        },
      },
    },
  });
});
afterAll(() => p.close());

describe("an agent connecting while its instructions are re-sent", () => {
  it("keeps its lease through the 410s of its opening connection and receives what waited", async () => {
    await p.application("race");
    await p.staging.close();
    await eventually(async () =>
      (await p.store.read(streams.runtime("k8s-staging"))).some((e) => e.type === "AgentDisconnected"),
    );
    const releaseId = await p.release("race", "1.0.0");
    await eventually(async () =>
      (await p.channelEvents("race", "staging")).some((e) => e.type === "InstructionDispatched"),
    );

    // The reactor reacts to AgentConnected while $connect lingers: its push answers 410.
    lingerMs = 3000;
    const agent = new FakeAgent(p.stack.wsUrl, "k8s-staging", p.tokens["k8s-staging"]);
    await agent.connect();
    lingerMs = 0;
    await until(() => agent.received(releaseId).length > 0);
    await eventually(() => p.convergedOn("race", "staging", releaseId), 20_000);

    const runtime = await p.store.read(streams.runtime("k8s-staging"));
    const lease = runtime.filter((e) => e.type === "AgentConnected").at(-1)!;
    expect(
      runtime.slice(runtime.indexOf(lease)).filter((e) => e.type === "AgentDisconnected"),
      "the opening connection kept its lease",
    ).toEqual([]);
    await agent.close();
  });
});
