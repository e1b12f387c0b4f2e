import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ApiGatewayManagementApiClient, PostToConnectionCommand } from "@aws-sdk/client-apigatewaymanagementapi";
import { SendMessageCommand, SQSClient } from "@aws-sdk/client-sqs";
import { afterAll, describe, expect, it } from "vitest";
import WebSocket from "ws";
import { SLIPWAY_VERSION } from "../../core/index.js";
import type { DomainEvent } from "../../events/index.js";
import { documentClient } from "../../functions/adapters/dynamo.js";
import { EventStore } from "../../functions/adapters/event-store.js";
import { assertJava, JavaMissingError, LOCAL_CREDENTIALS, LOCAL_REGION } from "../../infra/local/dynamodb.js";
import type { FunctionManifest as FullManifest } from "../../infra/local/functions.js";
type FunctionManifest = Omit<FullManifest, "http">;
import { PortInUseError } from "../../infra/local/ports.js";
import type { SqsEvent } from "../../infra/local/sqs-mapping.js";
import { startLocalStack, type LocalStack } from "../../infra/local/stack.js";
import type { DynamoStreamEvent } from "../../infra/local/stream-poller.js";
import type { WebSocketEvent } from "../../infra/local/websocket-gateway.js";
import { until } from "../support/wait.js";

const dataDir = mkdtempSync(join(tmpdir(), "slipway-stack-"));
afterAll(() => rmSync(dataDir, { recursive: true, force: true }));

const aws = { region: LOCAL_REGION, credentials: LOCAL_CREDENTIALS };
const meta = {
  occurredAt: "2026-11-23T10:00:00.000Z",
  actor: { kind: "system" as const, id: "test" },
  correlationId: "c",
  causationId: "c",
};
const started = (channel: string): DomainEvent => ({ type: "PromotionStarted", data: { releaseId: "r", channel } });

/** Handlers that record what reaches them, wired as the stack wires the real ones. */
function recorder() {
  const seen = { streams: [] as string[], queue: [] as string[], ws: [] as WebSocketEvent[] };
  const functions: FunctionManifest = {
    streamSubscribers: [
      {
        name: "projector",
        handler: (e: DynamoStreamEvent) =>
          void seen.streams.push(
            ...e.Records.map(
              (r) => `${(r.dynamodb.Keys.stream as { S: string }).S}@${(r.dynamodb.Keys.version as { N: string }).N}`,
            ),
          ),
      },
    ],
    queueSubscribers: [
      {
        name: "scheduler",
        queue: "preconditions",
        handler: (e: SqsEvent) => void seen.queue.push(...e.Records.map((r) => r.body)),
      },
    ],
    websocketRoutes: {
      $connect: (e: WebSocketEvent) => void seen.ws.push(e),
      $default: (e: WebSocketEvent) => void seen.ws.push(e),
    },
  };
  return { seen, functions };
}

/** The bootstrap admin key's Authorization header, from the secrets the stack made. */
const asAdmin = (stack: LocalStack) => ({
  authorization: `Bearer ${(JSON.parse(readFileSync(stack.secretsPath, "utf8")) as { adminApiKey: string }).adminApiKey}`,
});

const storeOf = (stack: LocalStack) =>
  new EventStore(documentClient({ ...aws, endpoint: stack.dynamoEndpoint }), stack.tables.events);

describe("local stack", () => {
  it("comes up healthy and runs every component through the handlers it is given", async () => {
    const { seen, functions } = recorder();
    const stack = await startLocalStack({ functions, stage: "wiring" });
    try {
      // Anyone learns that it is well and its version; the checks (tables, queue URLs, the stream
      // ARN, the WebSocket URL) only a read key sees.
      const anyone = await fetch(`${stack.httpUrl}/healthz`);
      expect(anyone.status).toBe(200);
      const text = await anyone.text();
      expect(JSON.parse(text)).toStrictEqual({ status: "ok", version: SLIPWAY_VERSION });
      for (const internal of ["http://", "ws://", "arn:", "127.0.0.1", "slipway-wiring"])
        expect(text).not.toContain(internal);
      const health = await fetch(`${stack.httpUrl}/healthz`, { headers: asAdmin(stack) });
      expect(health.status).toBe(200);
      const body = (await health.json()) as { status: string; components: Record<string, { ok: boolean }> };
      expect(body.status).toBe("ok");
      expect(Object.keys(body.components).sort()).toEqual([
        "eventLog",
        "queueSubscribers",
        "queues",
        "streamSubscribers",
        "websocket",
      ]);
      expect(JSON.stringify(body.components)).toContain(stack.wsUrl);

      // The event log's stream reaches the stream subscriber; command markers do not.
      await storeOf(stack).append("release#wired", 0, [started("staging"), started("production")], meta, {
        commandId: "cmd-1",
      });
      await until(() => seen.streams.length >= 2);
      expect(seen.streams).toEqual(["release#wired@1", "release#wired@2"]);

      // A delayed message reaches the queue subscriber.
      const sqs = new SQSClient({ ...aws, endpoint: stack.sqsEndpoint });
      await sqs.send(
        new SendMessageCommand({ QueueUrl: stack.queues.preconditions, MessageBody: "evaluate r", DelaySeconds: 1 }),
      );
      sqs.destroy();
      await until(() => seen.queue.length >= 1);
      expect(seen.queue).toEqual(["evaluate r"]);

      // The WebSocket API runs its routes and the Management API reaches the client.
      const ws = new WebSocket(`${stack.wsUrl}?runtime=k8s`);
      await new Promise((r) => ws.once("open", r));
      const connectionId = seen.ws[0]!.requestContext.connectionId;
      expect(seen.ws[0]!.queryStringParameters).toEqual({ runtime: "k8s" });
      const message = new Promise<string>((r) => ws.once("message", (d) => r(d.toString())));
      const management = new ApiGatewayManagementApiClient({ ...aws, endpoint: stack.managementEndpoint });
      await management.send(
        new PostToConnectionCommand({ ConnectionId: connectionId, Data: Buffer.from("hello agent") }),
      );
      expect(await message).toBe("hello agent");
      management.destroy();
      ws.close();
    } finally {
      await stack.stop();
    }
    await expect(fetch(`${stack.httpUrl}/healthz`)).rejects.toThrow();
  });

  it("keeps events, undelivered queue messages and stream checkpoints across a restart", async () => {
    const first = recorder();
    const one = await startLocalStack({
      dataDir,
      stage: "restart",
      functions: { ...first.functions, queueSubscribers: [] },
    });
    try {
      await storeOf(one).append("release#kept", 0, [started("staging")], meta);
      await until(() => first.seen.streams.length >= 1);
      const sqs = new SQSClient({ ...aws, endpoint: one.sqsEndpoint });
      await sqs.send(
        new SendMessageCommand({ QueueUrl: one.queues.preconditions, MessageBody: "still due", DelaySeconds: 2 }),
      );
      sqs.destroy();
    } finally {
      await one.stop();
    }

    const second = recorder();
    const two = await startLocalStack({ dataDir, stage: "restart", functions: second.functions });
    try {
      expect((await storeOf(two).read("release#kept")).map((e) => e.data)).toEqual([
        { releaseId: "r", channel: "staging" },
      ]);
      await storeOf(two).append("release#kept", 1, [started("production")], meta);
      await until(() => second.seen.streams.length >= 1 && second.seen.queue.length >= 1);
      await new Promise((r) => setTimeout(r, 300));
      expect(first.seen.streams).toEqual(["release#kept@1"]);
      expect(second.seen.streams).toEqual(["release#kept@2"]);
      expect(second.seen.queue).toEqual(["still due"]);
    } finally {
      await two.stop();
    }
  });

  it("says clearly when Java is missing", () => {
    const path = process.env.PATH;
    process.env.PATH = dataDir;
    try {
      expect(() => assertJava()).toThrow(JavaMissingError);
      expect(() => assertJava()).toThrow(/needs a Java 17\+ runtime, and `java` was not found on PATH/);
    } finally {
      process.env.PATH = path;
    }
  });

  it("says clearly which port is taken", async () => {
    const blocker = createServer();
    await new Promise<void>((r) => blocker.listen(0, "127.0.0.1", () => r()));
    const port = (blocker.address() as { port: number }).port;
    try {
      const error = await startLocalStack({ httpPort: port }).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(PortInUseError);
      expect((error as Error).message).toBe(
        `port ${port} for the HTTP API is already in use; stop whatever holds it or choose another port`,
      );
    } finally {
      blocker.close();
    }
  });
});
