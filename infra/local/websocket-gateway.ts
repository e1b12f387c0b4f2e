import { randomUUID } from "node:crypto";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import type { Duplex } from "node:stream";
import { WebSocketServer, type RawData, type WebSocket } from "ws";
import type { AgentSocketEvent } from "../../functions/adapters/lambda-events.js";
import { invoke, type LambdaHandler } from "./lambda.js";

/**
 * A local API Gateway WebSocket API. Clients connect to `ws://host:port/{stage}`; the gateway builds
 * the same Lambda events AWS does ($connect with headers and query string, messages routed on
 * `$request.body.action` with `$default` as fallback, $disconnect), enforces the same limits
 * (128 KB messages, idle timeout, maximum connection age, new connections per second), and serves
 * the Management API at `/{stage}/@connections/{id}` so the unmodified
 * `ApiGatewayManagementApiClient` can post to, inspect and close connections.
 */

/** The event a WebSocket route's function receives: the shape the handlers declare, built as AWS builds it. */
export type WebSocketEvent = AgentSocketEvent;
export type WebSocketResult = { statusCode?: number; body?: string } | void | undefined;
export type WebSocketRoutes = Record<string, LambdaHandler<WebSocketEvent, WebSocketResult>>;

export type GatewayOptions = {
  routes: WebSocketRoutes;
  stage?: string;
  apiId?: string;
  idleTimeoutMs?: number;
  maxConnectionMs?: number;
  maxMessageBytes?: number;
  newConnectionsPerSecond?: number;
  functionTimeoutMs?: number;
  log?: (line: string) => void;
};

type Connection = {
  id: string;
  socket: WebSocket;
  connectedAt: number;
  lastActiveAt: number;
  sourceIp: string;
  userAgent?: string;
  headers: Record<string, string>;
  idleTimer?: NodeJS.Timeout;
  ageTimer?: NodeJS.Timeout;
  closing: boolean;
};

/** AWS closes with 1001 "Going away" on idle timeout and on the connection age limit. */
const GOING_AWAY = 1001;

export class LocalWebSocketGateway {
  private readonly connections = new Map<string, Connection>();
  private readonly wss: WebSocketServer;
  private server?: Server;
  private host = "127.0.0.1";
  private port = 0;
  private window = { start: 0, count: 0 };
  readonly stage: string;
  readonly apiId: string;
  /** Management API calls by method, for the benchmarks' cost accounting. */
  readonly managementCalls: Record<string, number> = {};

  constructor(private readonly options: GatewayOptions) {
    this.stage = options.stage ?? "local";
    this.apiId = options.apiId ?? "local";
    this.wss = new WebSocketServer({
      noServer: true,
      maxPayload: options.maxMessageBytes ?? 128 * 1024,
      perMessageDeflate: false,
    });
  }

  get url(): string {
    return `ws://${this.host}:${this.port}/${this.stage}`;
  }

  get managementEndpoint(): string {
    return `http://${this.host}:${this.port}/${this.stage}`;
  }

  get connectionCount(): number {
    return this.connections.size;
  }

  async listen(port = 0, host = "127.0.0.1"): Promise<void> {
    this.host = host;
    this.server = createServer((req, res) => void this.management(req, res));
    this.server.on("upgrade", (req, socket, head) => void this.upgrade(req, socket, head));
    await new Promise<void>((resolve, reject) => {
      this.server!.once("error", reject);
      this.server!.listen(port, host, () => resolve());
    });
    this.port = (this.server.address() as AddressInfo).port;
  }

  async close(): Promise<void> {
    await Promise.all([...this.connections.values()].map((c) => this.disconnect(c, 1001, "Server shutting down")));
    const server = this.server;
    if (!server) return;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  // ── connecting ────────────────────────────────────────────────────────────────────────

  private async upgrade(req: IncomingMessage, socket: Duplex, head: Buffer): Promise<void> {
    const url = new URL(req.url ?? "/", "http://local");
    if (url.pathname.replace(/\/$/, "") !== `/${this.stage}`)
      return reject(socket, 404, `no WebSocket API at ${url.pathname}; connect to /${this.stage}`);
    if (!this.admit()) return reject(socket, 429, "too many new connections per second");

    const now = Date.now();
    const connectionId = Buffer.from(randomUUID().replace(/-/g, "").slice(0, 12), "hex").toString("base64");
    const headers = Object.fromEntries(
      Object.entries(req.headers).flatMap(([k, v]) =>
        v === undefined ? [] : [[k, Array.isArray(v) ? v.join(",") : v]],
      ),
    );
    const query = [...url.searchParams.keys()];
    const event: WebSocketEvent = {
      requestContext: this.context(
        "$connect",
        "CONNECT",
        connectionId,
        now,
        now,
        req.socket.remoteAddress ?? "127.0.0.1",
        headers["user-agent"],
      ),
      headers,
      multiValueHeaders: Object.fromEntries(Object.entries(headers).map(([k, v]) => [k, [v]])),
      ...(query.length
        ? {
            queryStringParameters: Object.fromEntries(query.map((k) => [k, url.searchParams.get(k)!])),
            multiValueQueryStringParameters: Object.fromEntries(query.map((k) => [k, url.searchParams.getAll(k)])),
          }
        : {}),
      isBase64Encoded: false,
    };

    let status = 200;
    let body = "";
    const handler = this.options.routes.$connect;
    if (handler) {
      try {
        const result = await invoke("ws-connect", handler, event, this.options.functionTimeoutMs);
        status = result?.statusCode ?? 200;
        body = result?.body ?? "";
      } catch (err) {
        this.options.log?.(`$connect failed: ${err instanceof Error ? err.message : String(err)}`);
        status = 500;
        body = "Internal server error";
      }
    }
    if (status < 200 || status > 299) return reject(socket, status, body);

    this.wss.handleUpgrade(req, socket, head, (ws) => {
      const connection: Connection = {
        id: connectionId,
        socket: ws,
        connectedAt: now,
        lastActiveAt: now,
        sourceIp: req.socket.remoteAddress ?? "127.0.0.1",
        headers,
        closing: false,
        ...(headers["user-agent"] ? { userAgent: headers["user-agent"] } : {}),
      };
      this.connections.set(connectionId, connection);
      this.touch(connection);
      connection.ageTimer = setTimeout(
        () => void this.disconnect(connection, GOING_AWAY, "Going away"),
        this.options.maxConnectionMs ?? 2 * 60 * 60 * 1000,
      );
      ws.on("message", (data, isBinary) => {
        this.touch(connection);
        void this.message(connection, data, isBinary);
      });
      ws.on("ping", () => this.touch(connection));
      ws.on("close", (code, reason) => void this.disconnected(connection, code, reason.toString()));
      ws.on("error", () => undefined); // the close that follows is what matters
    });
  }

  /** At most `newConnectionsPerSecond` handshakes start per second, as API Gateway's quota allows. */
  private admit(): boolean {
    const now = Date.now();
    if (now - this.window.start >= 1000) this.window = { start: now, count: 0 };
    this.window.count += 1;
    return this.window.count <= (this.options.newConnectionsPerSecond ?? 500);
  }

  private touch(connection: Connection): void {
    connection.lastActiveAt = Date.now();
    clearTimeout(connection.idleTimer);
    connection.idleTimer = setTimeout(
      () => void this.disconnect(connection, GOING_AWAY, "Going away"),
      this.options.idleTimeoutMs ?? 10 * 60 * 1000,
    );
  }

  // ── messages ──────────────────────────────────────────────────────────────────────────

  private async message(connection: Connection, data: RawData, isBinary: boolean): Promise<void> {
    const buffer = Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data as ArrayBuffer);
    const body = isBinary ? buffer.toString("base64") : buffer.toString("utf8");
    let action: unknown;
    if (!isBinary) {
      try {
        action = (JSON.parse(body) as { action?: unknown } | null)?.action;
      } catch {
        action = undefined;
      }
    }
    const routeKey =
      typeof action === "string" && action in this.options.routes && !action.startsWith("$") ? action : "$default";
    const handler = this.options.routes[routeKey];
    const requestId = randomUUID();
    if (!handler) {
      this.sendIfOpen(connection, JSON.stringify({ message: "Forbidden", connectionId: connection.id, requestId }));
      return;
    }
    const event: WebSocketEvent = {
      requestContext: {
        ...this.context(
          routeKey,
          "MESSAGE",
          connection.id,
          connection.connectedAt,
          Date.now(),
          connection.sourceIp,
          connection.userAgent,
        ),
        messageId: randomUUID(),
        requestId,
      },
      body,
      isBase64Encoded: isBinary,
    };
    try {
      await invoke(`ws-${routeKey.replace("$", "")}`, handler, event, this.options.functionTimeoutMs);
    } catch (err) {
      this.options.log?.(`${routeKey} failed: ${err instanceof Error ? err.message : String(err)}`);
      this.sendIfOpen(
        connection,
        JSON.stringify({ message: "Internal server error", connectionId: connection.id, requestId }),
      );
    }
  }

  private sendIfOpen(connection: Connection, text: string): void {
    if (connection.socket.readyState === connection.socket.OPEN) connection.socket.send(text);
  }

  // ── disconnecting ─────────────────────────────────────────────────────────────────────

  private disconnect(connection: Connection, code: number, reason: string): Promise<void> {
    if (connection.closing) return Promise.resolve();
    connection.closing = true;
    return new Promise((resolve) => {
      connection.socket.once("close", () => resolve());
      connection.socket.close(code, reason);
      // A peer that never answers the close handshake is cut off.
      setTimeout(() => {
        connection.socket.terminate();
        resolve();
      }, 2000).unref();
    });
  }

  private async disconnected(connection: Connection, code: number, reason: string): Promise<void> {
    if (!this.connections.delete(connection.id)) return;
    clearTimeout(connection.idleTimer);
    clearTimeout(connection.ageTimer);
    const handler = this.options.routes.$disconnect;
    if (!handler) return;
    const event: WebSocketEvent = {
      requestContext: {
        ...this.context(
          "$disconnect",
          "DISCONNECT",
          connection.id,
          connection.connectedAt,
          Date.now(),
          connection.sourceIp,
          connection.userAgent,
        ),
        disconnectStatusCode: code,
        disconnectReason: reason,
      },
      headers: connection.headers,
      multiValueHeaders: Object.fromEntries(Object.entries(connection.headers).map(([k, v]) => [k, [v]])),
      isBase64Encoded: false,
    };
    try {
      await invoke("ws-disconnect", handler, event, this.options.functionTimeoutMs);
    } catch (err) {
      // $disconnect is best-effort on AWS too: a failure is logged and nothing retries it.
      this.options.log?.(`$disconnect failed: ${err instanceof Error ? err.message : String(err)}`);
    }
  }

  // ── the Management API ────────────────────────────────────────────────────────────────

  private async management(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? "/", "http://local");
    const prefix = `/${this.stage}/@connections/`;
    if (!url.pathname.startsWith(prefix)) return json(res, 404, { message: "Not Found" }, "NotFoundException");
    const id = decodeURIComponent(url.pathname.slice(prefix.length));
    const method = req.method ?? "GET";
    this.managementCalls[method] = (this.managementCalls[method] ?? 0) + 1;
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const connection = this.connections.get(id);
    if (!connection || connection.closing || connection.socket.readyState !== connection.socket.OPEN)
      return json(res, 410, { message: null }, "GoneException");
    switch (method) {
      case "POST": {
        const data = Buffer.concat(chunks);
        if (data.length > (this.options.maxMessageBytes ?? 128 * 1024))
          return json(res, 413, { message: "Message too long" }, "PayloadTooLargeException");
        await new Promise<void>((resolve, reject) =>
          connection.socket.send(data.toString("utf8"), (err) => (err ? reject(err) : resolve())),
        ).catch(() => undefined);
        return json(res, 200, undefined);
      }
      case "GET":
        return json(res, 200, {
          connectedAt: new Date(connection.connectedAt).toISOString(),
          lastActiveAt: new Date(connection.lastActiveAt).toISOString(),
          identity: {
            sourceIp: connection.sourceIp,
            ...(connection.userAgent ? { userAgent: connection.userAgent } : {}),
          },
        });
      case "DELETE":
        await this.disconnect(connection, 1000, "Connection closed by the server");
        return json(res, 204, undefined);
      default:
        return json(res, 405, { message: `${method} is not supported` }, "BadRequestException");
    }
  }

  private context(
    routeKey: string,
    eventType: WebSocketEvent["requestContext"]["eventType"],
    connectionId: string,
    connectedAt: number,
    now: number,
    sourceIp: string,
    userAgent?: string,
  ): WebSocketEvent["requestContext"] {
    return {
      routeKey,
      eventType,
      connectionId,
      domainName: `${this.host}:${this.port}`,
      stage: this.stage,
      apiId: this.apiId,
      requestId: randomUUID(),
      extendedRequestId: randomUUID(),
      messageDirection: "IN",
      connectedAt,
      requestTime: new Date(now).toUTCString(),
      requestTimeEpoch: now,
      identity: { sourceIp, ...(userAgent ? { userAgent } : {}) },
    };
  }
}

function json(res: ServerResponse, status: number, body: unknown, errorType?: string): void {
  const headers: Record<string, string> = { "content-type": "application/json", "x-amzn-requestid": randomUUID() };
  if (errorType) headers["x-amzn-errortype"] = errorType;
  res.writeHead(status, headers).end(body === undefined ? undefined : JSON.stringify(body));
}

/** Refuses a handshake with an HTTP status and a body the client can read. */
function reject(socket: Duplex, status: number, body: string): void {
  const reason =
    {
      400: "Bad Request",
      401: "Unauthorized",
      403: "Forbidden",
      404: "Not Found",
      426: "Upgrade Required",
      429: "Too Many Requests",
      500: "Internal Server Error",
    }[status] ?? "Error";
  const payload = Buffer.from(body);
  socket.end(
    `HTTP/1.1 ${status} ${reason}\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: ${payload.length}\r\nConnection: close\r\n\r\n${payload.toString("utf8")}`,
  );
}
