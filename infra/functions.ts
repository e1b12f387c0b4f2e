/**
 * Which handlers the backend runs, on what, and with which settings: the one list both the SST
 * components (infra/*.ts) and the local stack (infra/local/) are built from, so AWS and `npm start`
 * run the very same exports the same way. A handler is named as SST names it —
 * `functions/<file>.<export>`; tests may hand in functions directly.
 *
 * Plain data, no SST globals: the typecheck, the local stack and `sst.config.ts` all import it.
 */

/** `functions/<file>.<export>`, or (in tests of the local stack) the handler itself. */
export type HandlerRef = string | ((event: never, context: never) => unknown);

export type StreamSubscriber = {
  name: string;
  handler: HandlerRef;
  batchSize?: number;
  batchingWindowMs?: number;
  maximumRetryAttempts?: number;
};
export type QueueSubscriber = {
  name: string;
  queue: "preconditions" | "notifications";
  handler: HandlerRef;
  batchSize?: number;
};

export type FunctionManifest = {
  streamSubscribers: StreamSubscriber[];
  queueSubscribers: QueueSubscriber[];
  /** Route key ($connect, $disconnect, $default or an action) → handler. */
  websocketRoutes: Record<string, HandlerRef>;
  /** The HTTP API (Hono through hono/aws-lambda). */
  http: HandlerRef;
};

const agentMessage = "functions/agent-socket.message";

export const functions: FunctionManifest = {
  streamSubscribers: [
    { name: "reactor", handler: "functions/reactor.handler", batchSize: 100 },
    { name: "projector", handler: "functions/projector.handler", batchSize: 100 },
  ],
  queueSubscribers: [
    { name: "scheduler", queue: "preconditions", handler: "functions/scheduler.handler", batchSize: 10 },
    { name: "notifier", queue: "notifications", handler: "functions/notifier.handler", batchSize: 10 },
  ],
  websocketRoutes: {
    $connect: "functions/agent-socket.connect",
    $disconnect: "functions/agent-socket.disconnect",
    $default: agentMessage,
    ack: agentMessage,
    report: agentMessage,
    state: agentMessage,
    heartbeat: agentMessage,
  },
  http: "functions/http.handler",
};

/** A stream subscriber's event source mapping, its defaults filled in: what AWS and the local stack both run. */
export function streamMapping(s: StreamSubscriber): {
  batchSize: number;
  batchingWindowMs: number;
  maximumRetryAttempts: number;
} {
  return {
    batchSize: s.batchSize ?? 100,
    batchingWindowMs: s.batchingWindowMs ?? 0,
    maximumRetryAttempts: s.maximumRetryAttempts ?? settings.streamMaximumRetryAttempts,
  };
}

/** A queue subscriber's batch size (SQS hands Lambda at most 10 messages without a batching window). */
export function queueMapping(q: QueueSubscriber): { batchSize: number } {
  return { batchSize: q.batchSize ?? 10 };
}

/** Every handler the manifest names, each once, in manifest order. */
export function handlerRefs(manifest: FunctionManifest): HandlerRef[] {
  return [
    ...new Set([
      manifest.http,
      ...Object.values(manifest.websocketRoutes),
      ...manifest.streamSubscribers.map((s) => s.handler),
      ...manifest.queueSubscribers.map((q) => q.handler),
    ]),
  ];
}

/** Settings shared by every function and its event sources, on AWS and locally. */
export const settings = {
  /** Every handler's timeout. API Gateway gives up on an integration after 29 s anyway. */
  timeoutSeconds: 30,
  memoryMB: 512,
  /** A queue's visibility timeout must be at least 6× its consumer's timeout. */
  visibilityTimeoutSeconds: 6 * 30,
  /** A precondition message that fails this often goes to the queue's DLQ. */
  maxReceiveCount: 5,
  /** A stream batch that keeps failing (after bisecting) goes to the stream's on-failure queue. */
  streamMaximumRetryAttempts: 10,
  /** Failed messages wait here two weeks (the SQS maximum) for someone to look. */
  dlqRetentionSeconds: 14 * 24 * 60 * 60,
  /**
   * Lambda's Node.js runtime ships AWS SDK v3, so bundles leave it out; everything else is bundled,
   * minified and tree-shaken.
   */
  bundleExternal: ["@aws-sdk/*"],
} as const;

/**
 * Stream records that carry events: command markers (`command#…`, version 0) share the table and
 * are dropped before the subscriber is invoked — by a Lambda FilterCriteria on AWS, the same
 * pattern applied by the local mapping.
 */
export const eventRecordFilter = { dynamodb: { Keys: { version: { N: [{ "anything-but": ["0"] }] } } } };
