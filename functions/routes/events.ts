import { createRoute, type OpenAPIHono } from "@hono/zod-openapi";
import { streamSSE } from "hono/streaming";
import * as z from "zod";
import { eventTypes } from "../../events/index.js";
import { decodeCursor } from "../services/cursor.js";
import type { ApiDeps } from "../services/deps.js";
import { feedNow, followFeed, listEvents } from "../services/feed.js";
import { withAccess } from "./access.js";
import type { ApiEnv } from "./context.js";
import { problemResponses } from "./problem.js";

/** How often a stream looks for new events, and how long it stays quiet before a keepalive comment. */
const POLL_MS = 500;
const KEEPALIVE_MS = 15_000;
/**
 * How long one stream lasts. API Gateway's HTTP APIs end every response at 30 s (and the Lambda
 * integration hands the response over when it is complete), so a stream ends before that and the
 * client reconnects with Last-Event-ID; `retry` tells EventSource clients to do so at once.
 */
const STREAM_MS = 25_000;
const RETRY_MS = 1000;

const feedCursor = (what: string) =>
  z
    .string()
    .max(1024)
    .refine((c) => decodeCursor("events", c) !== undefined, {
      error: `must be ${what} this feed returned`,
    });
const known = new Set<string>(eventTypes);

const EventsQuery = z.object({
  after: feedCursor("a cursor")
    .optional()
    .describe("only events after this cursor (an event's `cursor`, or `nextCursor`)"),
  application: z.string().min(1).max(63).optional(),
  release: z
    .string()
    .regex(/^[a-z0-9-]{1,64}$/)
    .optional(),
  type: z
    .string()
    .max(2000)
    .refine((t) => t.split(",").every((one) => known.has(one)), {
      error: "must be event types from the catalog, separated by commas (ReleaseCreated,ChannelConverged)",
    })
    .optional(),
  limit: z.coerce.number().int().min(1).max(200).default(50),
});
const EventsHeaders = z.object({
  accept: z.string().optional(),
  "last-event-id": feedCursor("the id of an event").optional(),
});
const FeedEvent = z.object({
  cursor: z.string(),
  streamId: z.string(),
  version: z.number(),
  type: z.string(),
  occurredAt: z.string(),
  actor: z.object({ kind: z.string(), id: z.string() }),
  data: z.unknown(),
  application: z.string().optional(),
  releaseId: z.string().optional(),
});

/** The log as a feed: pages of JSON, or a stream of server-sent events. */
export function registerEventRoutes(app: OpenAPIHono<ApiEnv>, deps: ApiDeps): void {
  app.openapi(
    createRoute(
      withAccess(deps, "read", {
        method: "get",
        path: "/v1/events",
        summary: "The log as a feed, oldest first; with Accept: text/event-stream, new events as they are appended",
        description:
          "Server-sent events carry `event: <type>`, `id: <cursor>` and the event as `data`; a reconnect with Last-Event-ID resumes after it. A stream ends after 25 s (API Gateway cuts responses at 30 s); clients reconnect.",
        request: { query: EventsQuery, headers: EventsHeaders },
        responses: {
          200: {
            description: "a page of events; `nextCursor` when there is more now",
            content: {
              "application/json": {
                schema: z.object({ items: z.array(FeedEvent), nextCursor: z.string().optional() }),
              },
              "text/event-stream": { schema: z.string() },
            },
          },
          ...problemResponses(400, 401, 403),
        },
      }),
    ),
    async (c) => {
      const { after, application, release, type, limit } = c.req.valid("query");
      const headers = c.req.valid("header");
      const filter = {
        ...(application ? { application } : {}),
        ...(release ? { releaseId: release } : {}),
        ...(type ? { types: type.split(",") } : {}),
      };
      const resume = headers["last-event-id"] ?? after;
      const from = resume ? decodeCursor("events", resume)!.after : undefined;
      if (!headers.accept?.includes("text/event-stream"))
        return c.json(await listEvents(deps, { ...(from ? { after: from } : {}), filter, limit }), 200);

      return streamSSE(c, async (stream) => {
        const stop = new AbortController();
        stream.onAbort(() => stop.abort());
        c.req.raw.signal.addEventListener("abort", () => stop.abort(), { once: true });
        await stream.write(`retry: ${RETRY_MS}\n\n`);
        let quietSince = Date.now();
        const follow = followFeed(deps, from ?? feedNow(deps), filter, {
          signal: stop.signal,
          until: Date.now() + STREAM_MS,
          pollMs: POLL_MS,
        });
        for await (const events of follow) {
          for (const e of events) await stream.writeSSE({ event: e.type, id: e.cursor, data: JSON.stringify(e) });
          if (events.length > 0) quietSince = Date.now();
          else if (Date.now() - quietSince >= KEEPALIVE_MS) {
            await stream.write(": keepalive\n\n");
            quietSince = Date.now();
          }
        }
      });
    },
  );
}
