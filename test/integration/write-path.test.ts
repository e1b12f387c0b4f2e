import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { streams } from "../../core/index.js";
import type { EventData, Metadata } from "../../events/index.js";
import { AgentGateway } from "../../functions/adapters/agent-gateway.js";
import type { StreamEvent } from "../../functions/adapters/lambda-events.js";
import { handler as reactor } from "../../functions/reactor.js";
import { pushAll } from "../../functions/services/push.js";
import { backendFromResources } from "../../functions/wiring.js";
import { functions } from "../../infra/functions.js";
import { FakeAgent } from "../support/fake-agent.js";
import { openPipeline, type Pipeline } from "../support/pipeline.js";
import { eventually } from "../support/wait.js";

/**
 * The write path: a CI webhook, a converging report and an approval evaluate, dispatch and push in
 * the handler that recorded them, with no stream hop. The reactor is held (it sees every record and
 * does nothing) while the release goes from the webhook through staging and an approval into
 * production: only the write path can have moved it.
 */

let p: Pipeline;
/** While set, the reactor drops what it is handed: as if its stream records were still on their way. */
let held = false;
/** While set, the reactor waits for it before handling what it is handed (the stream behind it waits too). */
let paused: Promise<void> | undefined;

beforeAll(async () => {
  p = await openPipeline("write-path", {
    functions: {
      ...functions,
      streamSubscribers: functions.streamSubscribers.map((s) =>
        s.name === "reactor"
          ? {
              ...s,
              handler: async (event: StreamEvent) => {
                if (held) return undefined;
                await paused;
                return reactor(event);
              },
            }
          : s,
      ),
    },
  });
});
afterAll(async () => {
  held = false;
  await p.close();
});

describe("the write path", () => {
  it("takes a release from the webhook to the staging agent, and from the approval to production, without the reactor", async () => {
    await p.application("direct", { production: { preconditions: [{ manualApproval: {} }] } });
    held = true;
    const releaseId = await p.release("direct", "1.0.0");
    await eventually(async () => p.staging.received(releaseId).length === 1);

    // Staging's report converged the channel; the same handler started production and asked for the approval.
    await eventually(async () =>
      (await p.releaseEvents(releaseId)).some((e) => e.type === "ApprovalRequested" && e.data.channel === "production"),
    );
    expect(p.production.received(releaseId)).toEqual([]);
    const approved = await p.api(`/v1/releases/${releaseId}/channels/production/approvals`, {
      method: "POST",
      body: { decision: "approve" },
    });
    expect(approved.status, JSON.stringify(approved.body)).toBe(200);
    await eventually(async () => p.production.received(releaseId).length === 1);
    await eventually(async () => p.convergedOn("direct", "production", releaseId));

    // Recorded by the API and the agents' handler, never by the reactor.
    for (const channel of ["staging", "production"]) {
      const dispatched = (await p.channelEvents("direct", channel)).filter((e) => e.type === "InstructionDispatched");
      expect(dispatched.map((e) => e.actor)).toEqual([{ kind: "system", id: "api" }]);
    }
    expect(p.staging.received(releaseId)).toHaveLength(1);
    expect(p.production.received(releaseId)).toHaveLength(1);
    held = false;
  });

  it("leaves the reactor's safety net nothing to push again once the agent has acknowledged the instruction", async () => {
    await p.application("net");
    const releaseId = await p.release("net", "1.0.0");
    await eventually(async () => p.convergedOn("net", "staging", releaseId));
    const [dispatched] = (await p.channelEvents("net", "staging")).filter((e) => e.type === "InstructionDispatched");
    const instruction: EventData<"InstructionDispatched"> = dispatched!.data;
    const meta: Metadata = {
      occurredAt: new Date().toISOString(),
      actor: { kind: "system", id: "test" },
      correlationId: dispatched!.correlationId,
      causationId: dispatched!.eventId,
    };

    // Another container (a gateway of its own, so none of this one's pushes are known to it) sees the dispatch.
    const elsewhere = { ...backendFromResources(), gateway: new AgentGateway(p.stack.managementEndpoint) };
    await pushAll(elsewhere, [instruction], meta, undefined, { unlessAcknowledged: true });
    await new Promise((r) => setTimeout(r, 300));
    expect(p.staging.received(releaseId)).toHaveLength(1);

    // Without the check it would have gone out again (harmless to an agent, but a message).
    const another = { ...elsewhere, gateway: new AgentGateway(p.stack.managementEndpoint) };
    await pushAll(another, [instruction], meta);
    await eventually(async () => p.staging.received(releaseId).length === 2);
    // The agent's second set of reports changes nothing in the log: it is the same instruction.
    await new Promise((r) => setTimeout(r, 300));
    const delivery = await p.store.read(streams.delivery("net", "staging", "k8s-staging"));
    expect(delivery.filter((e) => e.type === "ApplySucceeded")).toHaveLength(1);
  });

  it("lets a reaction to a release abandoned in the meantime go, instead of retrying it and holding up the stream", async () => {
    await p.application("gone", { production: { preconditions: [{ manualApproval: {} }] } });
    let resume = () => undefined as void;
    paused = new Promise<void>((r) => (resume = r));
    const releaseId = await p.release("gone", "1.0.0");
    await eventually(async () => p.convergedOn("gone", "staging", releaseId));
    const abandoned = await p.api(`/v1/releases/${releaseId}/abandon`, {
      method: "POST",
      body: { reason: "bad build" },
    });
    expect(abandoned.body).toEqual({ changed: true });
    // The reactor now sees the release's story from the start: its ChannelConverged enters production again.
    paused = undefined;
    resume();
    await p.application("after");
    const next = await p.release("after", "1.0.0");
    await eventually(async () => p.convergedOn("after", "staging", next));
    // And a record the reactor alone acts on, behind the stale ones, is acted on: the config release.
    const applied = await p.api("/v1/configs", {
      method: "PUT",
      body: p.applicationDocs("after", { staging: { constants: { replicas: 2 } } }),
    });
    expect(applied.status).toBe(200);
    await eventually(
      async () => (await p.channelEvents("after", "staging")).filter((e) => e.type === "ChannelConverged").length === 2,
    );
  });

  it("pushes a write-path instruction again a few seconds later, and only then, when its agent has not acknowledged it and its channel still wants it", async () => {
    await p.application("late");
    // An agent that receives and never answers (it takes the lease from the pipeline's staging agent).
    const quiet = new FakeAgent(p.stack.wsUrl, "k8s-staging", p.tokens["k8s-staging"], { outcome: () => "none" });
    await quiet.connect();
    try {
      // Its greeting (an upgrade request, then what its runtime has not finished) is over first.
      await eventually(async () => quiet.upgrades.length > 0);
      await new Promise((r) => setTimeout(r, 500));
      const releaseId = await p.release("late", "1.0.0");
      await eventually(async () => quiet.received(releaseId).length === 1);
      // The reactor does not race the request's own push…
      await new Promise((r) => setTimeout(r, 1000));
      expect(quiet.received(releaseId)).toHaveLength(1);
      // …it looks again WRITE_PATH_PUSH_CHECK_MS later, finds no ack, and pushes it.
      await eventually(async () => quiet.received(releaseId).length === 2, 30_000);

      // One a newer release replaced in the meantime is not pushed again: it would overtake the newer one.
      const older = await p.release("late", "1.0.1");
      const newer = await p.release("late", "1.0.2");
      await eventually(async () => quiet.received(newer).length === 2, 30_000);
      expect(quiet.received(older)).toHaveLength(1);
    } finally {
      await quiet.close();
    }
  });
});
