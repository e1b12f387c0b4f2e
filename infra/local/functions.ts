import type { LambdaHandler } from "./lambda.js";

/**
 * Which handlers the backend runs, and on what: the one list the local stack wires up (and the SST
 * components mirror). A handler is named as SST names it — `functions/<file>.<export>` — so both
 * run the very same export; tests may hand in functions directly.
 */
export type HandlerRef = string | LambdaHandler<never, unknown>;

export type StreamSubscriber = { name: string; handler: HandlerRef; batchSize?: number; batchingWindowMs?: number; maximumRetryAttempts?: number };
export type QueueSubscriber = { name: string; queue: "preconditions"; handler: HandlerRef; batchSize?: number };

export type FunctionManifest = {
  streamSubscribers: StreamSubscriber[];
  queueSubscribers: QueueSubscriber[];
  /** Route key ($connect, $disconnect, $default or an action) → handler. */
  websocketRoutes: Record<string, HandlerRef>;
};

const agentMessage = "functions/agent-socket.message";

export const functions: FunctionManifest = {
  streamSubscribers: [
    { name: "reactor", handler: "functions/reactor.handler", batchSize: 100 },
    { name: "projector", handler: "functions/projector.handler", batchSize: 100 },
  ],
  queueSubscribers: [{ name: "scheduler", queue: "preconditions", handler: "functions/scheduler.handler", batchSize: 10 }],
  websocketRoutes: {
    $connect: "functions/agent-socket.connect",
    $disconnect: "functions/agent-socket.disconnect",
    $default: agentMessage,
    ack: agentMessage,
    report: agentMessage,
    state: agentMessage,
    heartbeat: agentMessage,
  },
};

/** Loads `functions/<file>.<export>` from the repository, or returns a function as it is. */
export async function loadHandler<E, R>(ref: HandlerRef): Promise<LambdaHandler<E, R>> {
  if (typeof ref === "function") return ref as unknown as LambdaHandler<E, R>;
  const dot = ref.lastIndexOf(".");
  const file = ref.slice(0, dot);
  const name = ref.slice(dot + 1);
  const module = (await import(new URL(`../../${file}.ts`, import.meta.url).href)) as Record<string, unknown>;
  const handler = module[name];
  if (typeof handler !== "function") throw new Error(`${ref}: ${file}.ts has no exported function "${name}"`);
  return handler as LambdaHandler<E, R>;
}
