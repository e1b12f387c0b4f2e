import { randomUUID } from "node:crypto";

/** What a Lambda handler is, to the local stack: a function of an event and a context. */
export type LambdaHandler<E = unknown, R = unknown> = (event: E, context: LambdaContext) => Promise<R> | R;

export type LambdaContext = {
  awsRequestId: string;
  functionName: string;
  functionVersion: string;
  invokedFunctionArn: string;
  memoryLimitInMB: string;
  logGroupName: string;
  logStreamName: string;
  callbackWaitsForEmptyEventLoop: boolean;
  getRemainingTimeInMillis: () => number;
};

/** Invocations per function, for health reports and the benchmarks' cost accounting. */
export const invocationCounts: Record<string, number> = {};
/** Milliseconds spent in each function (what Lambda bills as duration), for the same accounting. */
export const invocationMillis: Record<string, number> = {};

export class LambdaTimeoutError extends Error {
  constructor(functionName: string, timeoutMs: number) {
    super(`${functionName} timed out after ${timeoutMs} ms`);
    this.name = "LambdaTimeoutError";
  }
}

/**
 * Invokes a handler the way Lambda does: a fresh request id, a context that knows the deadline, and
 * an error when the deadline passes (the handler's work is abandoned, as when Lambda kills it).
 */
export async function invoke<E, R>(
  functionName: string,
  handler: LambdaHandler<E, R>,
  event: E,
  timeoutMs = 30_000,
): Promise<R> {
  invocationCounts[functionName] = (invocationCounts[functionName] ?? 0) + 1;
  const deadline = Date.now() + timeoutMs;
  const context: LambdaContext = {
    awsRequestId: randomUUID(),
    functionName,
    functionVersion: "$LATEST",
    invokedFunctionArn: `arn:aws:lambda:us-east-1:000000000000:function:${functionName}`,
    memoryLimitInMB: "1024",
    logGroupName: `/aws/lambda/${functionName}`,
    logStreamName: "local",
    callbackWaitsForEmptyEventLoop: false,
    getRemainingTimeInMillis: () => Math.max(0, deadline - Date.now()),
  };
  let timer: NodeJS.Timeout | undefined;
  const started = performance.now();
  try {
    return await Promise.race([
      Promise.resolve().then(() => handler(event, context)),
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new LambdaTimeoutError(functionName, timeoutMs)), timeoutMs);
      }),
    ]);
  } finally {
    clearTimeout(timer);
    invocationMillis[functionName] = (invocationMillis[functionName] ?? 0) + (performance.now() - started);
  }
}

/** The partial batch response of SQS and stream handlers: the items to retry. */
export type BatchResponse = { batchItemFailures?: { itemIdentifier: string }[] } | void | undefined | null;

export function failedItems(response: unknown): Set<string> {
  const failures = (response as { batchItemFailures?: unknown } | null | undefined)?.batchItemFailures;
  if (!Array.isArray(failures)) return new Set();
  return new Set(failures.map((f: { itemIdentifier?: unknown }) => textOf(f?.itemIdentifier)));
}

/** A field of a JSON request or response as text: strings as they are, anything else as empty. */
export function textOf(value: unknown): string {
  return typeof value === "string" ? value : typeof value === "number" ? String(value) : "";
}
