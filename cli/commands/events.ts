import { InvalidArgumentError, type Command } from "commander";
import { stringify } from "yaml";
import type { FeedEvent, Page } from "../api-types.js";
import type { ApiClient, Query } from "../client.js";
import { ApiError } from "../errors.js";
import { clientOf, sleep, withExamples } from "../kit.js";
import { outputOption, paint, print, table, type Format } from "../output.js";
import { relativeTime } from "../time.js";

/**
 * `slipway events [--follow]`: the event log, oldest first, as `GET /v1/events` serves it; with
 * `--follow`, live over server-sent events, resuming where it left off when the stream drops.
 */

type Options = {
  follow?: boolean;
  application?: string;
  release?: string;
  type?: string;
  after?: string;
  limit?: number;
  output: Format;
};

function parseCount(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError("must be a whole number, 1 or more.");
  return n;
}

const PAGE = 200;
const RECONNECT_MS = 1000;

export function registerEventsCommand(program: Command): void {
  withExamples(
    program
      .command("events")
      .description("Print the event log, oldest first; with --follow, live as events are appended")
      .option("-f, --follow", "keep printing events as they are appended (Ctrl-C stops)")
      .option("--application <app>", "events about this application")
      .option("--release <release>", "events about this release")
      .option("--type <type>", "events of this type (ReleaseCreated, ChannelConverged, …)")
      .option("--after <cursor>", "events after this one (a cursor from an earlier event)")
      .option("--limit <n>", "at most this many events (without --follow)", parseCount)
      .addOption(outputOption()),
    [
      "slipway events --release rel-0mbx3k2c1a2b3c4d5e",
      "slipway events --follow --application shop",
      "slipway events --follow --type ApprovalRequested -o json | jq .data",
    ],
  ).action(async (options: Options, cmd: Command) => {
    const client = clientOf(cmd);
    const filters = { application: options.application, release: options.release, type: options.type };
    const printer = new EventPrinter(options.output, Boolean(options.follow));
    let after = options.after;
    let printed = 0;
    // What is there already, page by page; then, following, what comes.
    if (!options.follow) {
      for (;;) {
        const want = options.limit === undefined ? PAGE : Math.min(PAGE, options.limit - printed);
        if (want <= 0) break;
        const page = await client.get<Page<FeedEvent>>("/v1/events", { ...filters, after, limit: want });
        printer.add(page.items);
        printed += page.items.length;
        const next = page.nextCursor ?? page.items[page.items.length - 1]?.cursor;
        if (!page.items.length || !next || next === after) break;
        after = next;
      }
      printer.flush();
      return;
    }
    await follow(client, filters, after, printer);
  });
}

async function follow(
  client: ApiClient,
  filters: Query,
  after: string | undefined,
  printer: EventPrinter,
): Promise<void> {
  const stop = new AbortController();
  process.once("SIGINT", () => stop.abort());
  let last = after;
  while (!stop.signal.aborted) {
    try {
      for await (const message of client.events(
        "/v1/events",
        { ...filters, ...(last ? { after: last } : {}) },
        last,
        stop.signal,
      )) {
        const event = JSON.parse(message.data) as FeedEvent;
        printer.add([event]);
        last = message.id ?? event.cursor;
      }
    } catch (err) {
      if (stop.signal.aborted) break;
      // A refusal will not change by asking again; a dropped stream or a restarting server may.
      if (err instanceof ApiError && err.problem.status < 500) throw err;
    }
    if (!stop.signal.aborted) await sleep(RECONNECT_MS);
  }
}

/** A row of an event: when, what, where, and the data's short facts. */
function row(e: FeedEvent, live: boolean): string[] {
  const when = live ? new Date(e.occurredAt).toISOString().slice(11, 19) : relativeTime(e.occurredAt);
  return [when, e.type, e.streamId, `${e.actor.kind}:${e.actor.id}`, facts(e.data)];
}

function facts(data: unknown): string {
  if (!data || typeof data !== "object") return "";
  const text = Object.entries(data as Record<string, unknown>)
    .filter(([, v]) => ["string", "number", "boolean"].includes(typeof v))
    .map(([k, v]) => `${k}=${String(v)}`)
    .join(" ");
  return text.length > 120 ? `${text.slice(0, 119)}…` : text;
}

/**
 * Tables are aligned over what is printed at once; followed events, which come one by one, get
 * fixed columns instead. JSON is one event per line (JSON Lines), YAML one document per event.
 */
class EventPrinter {
  private readonly rows: string[][] = [];

  constructor(
    private readonly format: Format,
    private readonly live: boolean,
  ) {}

  add(events: readonly FeedEvent[]): void {
    for (const e of events) {
      if (this.format === "json") print(JSON.stringify(e));
      else if (this.format === "yaml") process.stdout.write(`---\n${stringify(e)}`);
      else if (this.live) {
        const [when, type, stream, actor, detail] = row(e, true);
        print(`${paint("dim", when!)}  ${type!.padEnd(26)} ${stream!.padEnd(34)} ${actor!.padEnd(18)} ${detail}`);
      } else this.rows.push(row(e, false));
    }
  }

  flush(): void {
    if (this.format !== "table" || this.live) return;
    if (!this.rows.length) return print(paint("dim", "no events"));
    print(table(["AGE", "TYPE", "STREAM", "ACTOR", "DETAIL"], this.rows));
  }
}
