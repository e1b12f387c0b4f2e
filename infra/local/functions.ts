import type { HandlerRef } from "../functions.js";
import type { LambdaHandler } from "./lambda.js";

export {
  functions,
  settings,
  eventRecordFilter,
  streamMapping,
  queueMapping,
  type FunctionManifest,
  type HandlerRef,
  type QueueSubscriber,
  type StreamSubscriber,
} from "../functions.js";

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

type Pattern = { [key: string]: Pattern | (string | number | { "anything-but": (string | number)[] })[] };

/**
 * Lambda's event filtering (FilterCriteria), for the subset the patterns here use: nested objects,
 * lists of allowed values, and `anything-but`. A record matches when every key of the pattern does.
 */
export function matchesFilter(pattern: Pattern, value: unknown): boolean {
  return Object.entries(pattern).every(([key, rule]) => {
    const field = (value as Record<string, unknown> | undefined)?.[key];
    if (!Array.isArray(rule)) return matchesFilter(rule, field);
    if (field === undefined) return false;
    return rule.some((r) => (typeof r === "object" ? !r["anything-but"].includes(field as string) : r === field));
  });
}
