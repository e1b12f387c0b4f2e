import * as z from "zod";
import { isFeedPosition } from "../../core/index.js";

/**
 * Cursors are opaque to clients: base64url of a small JSON object naming the list it belongs to,
 * so a cursor of one list handed to another is refused rather than misread.
 */
const schemas = {
  /** The release list: continue below this release id. */
  releases: z.strictObject({ k: z.literal("releases"), before: z.string().min(1).max(128) }),
  /** A channel's history: continue below this version of its stream; `newer` is the dispatch at that version. */
  history: z.strictObject({
    k: z.literal("history"),
    before: z.number().int().positive(),
    newer: z.string().max(300).optional(),
  }),
  /** The event feed: continue after this position. */
  events: z.strictObject({ k: z.literal("events"), after: z.string().max(600).refine(isFeedPosition) }),
};
type Kind = keyof typeof schemas;
export type Cursor<K extends Kind> = Omit<z.infer<(typeof schemas)[K]>, "k">;

export function encodeCursor<K extends Kind>(kind: K, value: Cursor<K>): string {
  return Buffer.from(JSON.stringify({ k: kind, ...value })).toString("base64url");
}

/** The cursor's content, or undefined for anything this API did not hand out for that list. */
export function decodeCursor<K extends Kind>(kind: K, cursor: string): Cursor<K> | undefined {
  if (!/^[A-Za-z0-9_-]+$/.test(cursor)) return undefined;
  let json: unknown;
  try {
    json = JSON.parse(Buffer.from(cursor, "base64url").toString("utf8"));
  } catch {
    return undefined;
  }
  const parsed = schemas[kind].safeParse(json);
  if (!parsed.success) return undefined;
  const { k: _k, ...value } = parsed.data;
  return value as unknown as Cursor<K>;
}
