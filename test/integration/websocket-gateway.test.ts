import {
  ApiGatewayManagementApiClient,
  DeleteConnectionCommand,
  GetConnectionCommand,
  GoneException,
  PostToConnectionCommand,
} from "@aws-sdk/client-apigatewaymanagementapi";
import { afterEach, describe, expect, it } from "vitest";
import WebSocket from "ws";
import { LOCAL_CREDENTIALS, LOCAL_REGION } from "../../infra/local/dynamodb.js";
import {
  LocalWebSocketGateway,
  type GatewayOptions,
  type WebSocketEvent,
} from "../../infra/local/websocket-gateway.js";
import { until } from "../support/wait.js";

const gateways: LocalWebSocketGateway[] = [];
afterEach(async () => {
  await Promise.all(gateways.splice(0).map((g) => g.close()));
});

async function gateway(options: Partial<GatewayOptions> = {}) {
  const events: WebSocketEvent[] = [];
  const record = (event: WebSocketEvent) => void events.push(event);
  const g = new LocalWebSocketGateway({
    routes: { $connect: record, $disconnect: record, $default: record, report: record },
    ...options,
  });
  await g.listen();
  gateways.push(g);
  const management = new ApiGatewayManagementApiClient({
    endpoint: g.managementEndpoint,
    region: LOCAL_REGION,
    credentials: LOCAL_CREDENTIALS,
  });
  return { g, events, management };
}

function connect(url: string, headers: Record<string, string> = {}): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { headers });
    ws.once("open", () => resolve(ws));
    ws.once("error", reject);
  });
}

function closed(ws: WebSocket): Promise<{ code: number; reason: string }> {
  return new Promise((resolve) => ws.once("close", (code, reason) => resolve({ code, reason: reason.toString() })));
}

function nextMessage(ws: WebSocket): Promise<string> {
  return new Promise((resolve) => ws.once("message", (data) => resolve(data.toString())));
}

describe("local API Gateway WebSocket", () => {
  it("builds AWS's $connect event with headers, query string and request context", async () => {
    const { g, events } = await gateway();
    const ws = await connect(`${g.url}?runtime=k8s-staging`, {
      Authorization: "Bearer t0ken",
      "X-Slipway-Agent-Version": "1.2.0",
    });
    const connect0 = events[0]!;
    expect(connect0.requestContext).toMatchObject({
      routeKey: "$connect",
      eventType: "CONNECT",
      stage: "local",
      messageDirection: "IN",
      identity: { sourceIp: "127.0.0.1" },
    });
    expect(connect0.requestContext.connectionId).toMatch(/^[A-Za-z0-9+/=]+$/);
    expect(connect0.headers).toMatchObject({ authorization: "Bearer t0ken", "x-slipway-agent-version": "1.2.0" });
    expect(connect0.queryStringParameters).toEqual({ runtime: "k8s-staging" });
    ws.close();
  });

  it("routes messages on $request.body.action, falling back to $default", async () => {
    const { g, events } = await gateway();
    const ws = await connect(g.url);
    ws.send(JSON.stringify({ action: "report", status: "succeeded" }));
    ws.send(JSON.stringify({ action: "unknown" }));
    ws.send("not json");
    await until(() => events.length >= 4);
    const messages = events.filter((e) => e.requestContext.eventType === "MESSAGE");
    expect(messages.map((e) => [e.requestContext.routeKey, e.body])).toEqual([
      ["report", JSON.stringify({ action: "report", status: "succeeded" })],
      ["$default", JSON.stringify({ action: "unknown" })],
      ["$default", "not json"],
    ]);
    expect(messages[0]!.requestContext.connectionId).toBe(events[0]!.requestContext.connectionId);
    ws.close();
  });

  it("answers Forbidden when no route matches and there is no $default", async () => {
    const g = new LocalWebSocketGateway({ routes: { report: () => undefined } });
    await g.listen();
    gateways.push(g);
    const ws = await connect(g.url);
    const reply = nextMessage(ws);
    ws.send(JSON.stringify({ action: "other" }));
    expect(JSON.parse(await reply)).toMatchObject({ message: "Forbidden" });
    ws.close();
  });

  it("rejects the handshake with the status and body $connect returns", async () => {
    const { g } = await gateway({
      routes: { $connect: () => ({ statusCode: 401, body: "the agent token is not valid for this runtime" }) },
    });
    const response = await new Promise<{ status: number; body: string }>((resolve) => {
      const ws = new WebSocket(g.url);
      ws.once("unexpected-response", (_req, res) => {
        let body = "";
        res.on("data", (d: Buffer) => (body += d.toString()));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
      });
      ws.once("error", () => undefined);
    });
    expect(response).toEqual({ status: 401, body: "the agent token is not valid for this runtime" });
    expect(g.connectionCount).toBe(0);
  });

  it("serves the Management API to the unmodified client: post, get, delete, then 410 Gone", async () => {
    const { g, events, management } = await gateway();
    const ws = await connect(g.url, { "User-Agent": "slipway-agent/1.2.0" });
    const connectionId = events[0]!.requestContext.connectionId;

    const received = nextMessage(ws);
    await management.send(
      new PostToConnectionCommand({
        ConnectionId: connectionId,
        Data: Buffer.from(JSON.stringify({ type: "instruction", id: "i1" })),
      }),
    );
    expect(JSON.parse(await received)).toEqual({ type: "instruction", id: "i1" });

    const info = await management.send(new GetConnectionCommand({ ConnectionId: connectionId }));
    expect(info.Identity).toEqual({ SourceIp: "127.0.0.1", UserAgent: "slipway-agent/1.2.0" });
    expect(info.ConnectedAt).toBeInstanceOf(Date);

    const wasClosed = closed(ws);
    await management.send(new DeleteConnectionCommand({ ConnectionId: connectionId }));
    expect((await wasClosed).code).toBe(1000);
    await until(() => events.some((e) => e.requestContext.eventType === "DISCONNECT"));

    const gone = await management
      .send(new PostToConnectionCommand({ ConnectionId: connectionId, Data: Buffer.from("late") }))
      .catch((e: unknown) => e);
    expect(gone).toBeInstanceOf(GoneException);
    expect((gone as GoneException).$metadata.httpStatusCode).toBe(410);
  });

  it("answers 410 for a connection the client closed, and reports $disconnect with its code", async () => {
    const { g, events, management } = await gateway();
    const ws = await connect(g.url);
    const connectionId = events[0]!.requestContext.connectionId;
    ws.close(4000, "agent shutting down");
    await until(() => events.some((e) => e.requestContext.eventType === "DISCONNECT"));
    expect(events.at(-1)!.requestContext).toMatchObject({
      routeKey: "$disconnect",
      connectionId,
      disconnectStatusCode: 4000,
      disconnectReason: "agent shutting down",
    });
    await expect(
      management.send(new PostToConnectionCommand({ ConnectionId: connectionId, Data: Buffer.from("x") })),
    ).rejects.toBeInstanceOf(GoneException);
  });

  it("closes a connection that sends a message over 128 KB with 1009", async () => {
    const { g } = await gateway();
    const ws = await connect(g.url);
    const wasClosed = closed(ws);
    ws.send("x".repeat(128 * 1024 + 1));
    expect((await wasClosed).code).toBe(1009);
  });

  it("refuses to post more than 128 KB to a connection", async () => {
    const { g, events, management } = await gateway();
    const ws = await connect(g.url);
    const error = await management
      .send(
        new PostToConnectionCommand({
          ConnectionId: events[0]!.requestContext.connectionId,
          Data: Buffer.alloc(128 * 1024 + 1, 97),
        }),
      )
      .catch((e: unknown) => e);
    expect((error as { name: string }).name).toBe("PayloadTooLargeException");
    ws.close();
  });

  it("closes idle connections with 1001, while messages keep a connection alive", async () => {
    const { g } = await gateway({ idleTimeoutMs: 400 });
    const idle = await connect(g.url);
    const busy = await connect(g.url);
    const idleClosed = closed(idle);
    const keepAlive = setInterval(() => busy.send(JSON.stringify({ action: "heartbeat" })), 100);
    try {
      expect((await idleClosed).code).toBe(1001);
      await new Promise((r) => setTimeout(r, 600));
      expect(busy.readyState).toBe(WebSocket.OPEN);
    } finally {
      clearInterval(keepAlive);
      busy.close();
    }
  });

  it("closes connections at the maximum connection age with 1001", async () => {
    const { g } = await gateway({ maxConnectionMs: 300 });
    const ws = await connect(g.url);
    const keepAlive = setInterval(() => ws.readyState === WebSocket.OPEN && ws.send("{}"), 50);
    try {
      expect(await closed(ws)).toEqual({ code: 1001, reason: "Going away" });
    } finally {
      clearInterval(keepAlive);
    }
  });

  it("limits new connections per second with 429", async () => {
    const { g } = await gateway({ newConnectionsPerSecond: 2 });
    const results = await Promise.allSettled([connect(g.url), connect(g.url), connect(g.url)]);
    expect(results.filter((r) => r.status === "fulfilled")).toHaveLength(2);
    const rejected = results.find((r): r is PromiseRejectedResult => r.status === "rejected");
    expect(String(rejected?.reason)).toContain("429");
    for (const r of results) if (r.status === "fulfilled") r.value.close();
  });
});
