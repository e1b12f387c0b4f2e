import { mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { documentClient } from "../../functions/adapters/dynamo.js";
import { EventStore } from "../../functions/adapters/event-store.js";
import { LOCAL_CREDENTIALS, LOCAL_REGION } from "../../infra/local/dynamodb.js";
import { PortInUseError } from "../../infra/local/ports.js";
import { startLocalStack } from "../../infra/local/stack.js";

const dataDir = mkdtempSync(join(tmpdir(), "slipway-stack-"));
afterAll(() => rmSync(dataDir, { recursive: true, force: true }));

describe("local stack", () => {
  it("comes up healthy, keeps its data across a restart, and shuts down", async () => {
    const first = await startLocalStack({ dataDir, httpPort: 0, stage: "restart" });
    const health = await fetch(`${first.httpUrl}/healthz`);
    expect(health.status).toBe(200);
    expect(await health.json()).toEqual({ ok: true, components: { eventLog: { ok: true, detail: "table slipway-restart-events is active" } } });

    const store = () => new EventStore(documentClient({ endpoint: first.dynamoEndpoint, region: LOCAL_REGION, credentials: LOCAL_CREDENTIALS }), first.tables.events);
    await store().append("release#kept", 0, [{ type: "PromotionStarted", data: { releaseId: "kept", channel: "staging" } }], {
      occurredAt: new Date().toISOString(),
      actor: { kind: "system", id: "test" },
      correlationId: "c",
      causationId: "c",
    });
    await first.stop();
    await expect(fetch(`${first.httpUrl}/healthz`)).rejects.toThrow();

    const second = await startLocalStack({ dataDir, httpPort: 0, stage: "restart" });
    try {
      const again = new EventStore(documentClient({ endpoint: second.dynamoEndpoint, region: LOCAL_REGION, credentials: LOCAL_CREDENTIALS }), second.tables.events);
      expect((await again.read("release#kept")).map((e) => e.data)).toEqual([{ releaseId: "kept", channel: "staging" }]);
    } finally {
      await second.stop();
    }
  });

  it("says clearly which port is taken", async () => {
    const blocker = createServer();
    await new Promise<void>((r) => blocker.listen(0, "127.0.0.1", () => r()));
    const port = (blocker.address() as { port: number }).port;
    try {
      const error = await startLocalStack({ httpPort: port }).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(PortInUseError);
      expect((error as Error).message).toBe(`port ${port} for the HTTP API is already in use; stop whatever holds it or choose another port`);
    } finally {
      blocker.close();
    }
  });
});
