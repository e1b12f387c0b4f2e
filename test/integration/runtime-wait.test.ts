import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { documentClient } from "../../functions/adapters/dynamo.js";
import { ReadModels } from "../../functions/adapters/read-models.js";
import { LOCAL_CREDENTIALS, LOCAL_REGION } from "../../infra/local/dynamodb.js";
import { FakeAgent } from "../support/fake-agent.js";
import { openPipeline, type Pipeline } from "../support/pipeline.js";
import { eventually } from "../support/wait.js";

/**
 * `GET /v1/runtimes/{name}` and its long poll, as infrastructure code uses them: link a runtime,
 * install the agent, and wait for `?wait=linked` to answer.
 */
let p: Pipeline;
const agents: FakeAgent[] = [];

beforeAll(async () => {
  p = await openPipeline("runtime-wait");
  await p.apply([{ runtime: { name: "k8s-wait", kubernetes: {} } }]);
});
afterAll(async () => {
  for (const agent of agents) await agent.close();
  await p.close();
});

describe("one runtime, and waiting for its agent", () => {
  it("answers one runtime as the list shows it, and 404 for one that does not exist", async () => {
    const one = await p.api("/v1/runtimes/k8s-staging");
    expect(one.status).toBe(200);
    const listed = ((await p.api("/v1/runtimes")).body.items as { name: string }[]).find(
      (r) => r.name === "k8s-staging",
    );
    expect(one.body).toEqual(listed);
    expect(one.body).toMatchObject({ name: "k8s-staging", linked: true, status: "connected" });
    const missing = await p.api("/v1/runtimes/nowhere");
    expect(missing.status).toBe(404);
    expect(missing.body).toMatchObject({ code: "runtime.not_found" });
  });

  it("refuses a wait for something it cannot wait for, or a timeout it cannot read, naming the parameter", async () => {
    const what = await p.api("/v1/runtimes/k8s-wait?wait=happy");
    expect(what.status).toBe(400);
    expect(JSON.stringify(what.body)).toContain("wait");
    const long = await p.api("/v1/runtimes/k8s-wait?wait=linked&timeout=soon");
    expect(long.status).toBe(400);
    expect(JSON.stringify(long.body)).toContain("timeout");
  });

  it("answers 408 while no agent has registered, and the runtime as soon as one does", async () => {
    await p.apply([
      {
        application: {
          name: "edge",
          releaseChannels: [
            { name: "staging", runtimes: [{ runtime: "k8s-staging" }] },
            { name: "edge", runtimes: [{ runtime: "k8s-wait" }] },
          ],
        },
      },
    ]);
    const unlinked = async () =>
      ((await p.api("/v1/applications/edge")).body.channels as { name: string; unlinkedRuntimes?: string[] }[]).map(
        (c) => [c.name, c.unlinkedRuntimes],
      );
    expect(await unlinked()).toEqual([
      ["staging", undefined],
      ["edge", ["k8s-wait"]],
    ]);

    const notYet = await p.api("/v1/runtimes/k8s-wait?wait=linked&timeout=1s");
    expect(notYet.status).toBe(408);
    expect(notYet.body).toMatchObject({ code: "runtime.wait_timeout" });
    expect(notYet.body).toMatchObject({
      title: "Request Timeout",
      detail: expect.stringMatching(/not linked after 1 s/),
    });

    const { token } = (await p.api("/v1/runtimes/k8s-wait/link", { method: "POST" })).body as { token: string };
    const waiting = p.api("/v1/runtimes/k8s-wait?wait=linked&timeout=20s");
    const agent = new FakeAgent(p.stack.wsUrl, "k8s-wait", token);
    agents.push(agent);
    await agent.connect();
    const linked = await waiting;
    expect(linked.status).toBe(200);
    expect(linked.body).toMatchObject({ name: "k8s-wait", linked: true });
    // The view follows a stream hop later: it reads what the projector kept, 100 runtimes a request.
    const shown = (channels: unknown[][]) => async () => JSON.stringify(await unlinked()) === JSON.stringify(channels);
    await eventually(
      shown([
        ["staging", null],
        ["edge", null],
      ]),
    );
    const readModels = new ReadModels(
      documentClient({ endpoint: p.stack.dynamoEndpoint, region: LOCAL_REGION, credentials: LOCAL_CREDENTIALS }),
      p.stack.tables.readModels,
    );
    expect(await readModels.runtimesLinked(["k8s-wait", "k8s-staging"])).toEqual(
      new Map([
        ["k8s-wait", true],
        ["k8s-staging", true],
      ]),
    );

    // Linking again starts over: the runtime is not linked until an agent uses the new token.
    await agent.close();
    await p.api("/v1/runtimes/k8s-wait/link", { method: "POST" });
    expect((await p.api("/v1/runtimes/k8s-wait")).body).toMatchObject({ linked: false });
    await eventually(
      shown([
        ["staging", null],
        ["edge", ["k8s-wait"]],
      ]),
    );
  });
});
