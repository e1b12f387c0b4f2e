import { Argument, InvalidArgumentError, Option, type Command } from "commander";
import {
  CHANNEL_STATES,
  type ApiKeyView,
  type ApplicationSummary,
  type Page,
  type ReleaseSummary,
  type RuntimeView,
  type SecretView,
} from "../api-types.js";
import { clientOf, usage, withExamples } from "../kit.js";
import { note, outputOption, paint, paintState, print, printData, table, type Format } from "../output.js";
import { parseInstant, relativeTime } from "../time.js";

/** `slipway get applications|releases|runtimes|apikeys|secrets`: lists, as tables or as the API's JSON. */

const KINDS = ["applications", "releases", "runtimes", "apikeys", "secrets"] as const;
type Kind = (typeof KINDS)[number];

type Options = {
  output: Format;
  application?: string;
  service?: string;
  channel?: string;
  state?: string;
  author?: string;
  since?: string;
  limit?: number;
  cursor?: string;
};
const RELEASE_FILTERS = ["application", "service", "channel", "state", "author", "since", "limit", "cursor"] as const;

function parseLimit(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1 || n > 200) throw new InvalidArgumentError("must be a whole number from 1 to 200.");
  return n;
}

export function registerGetCommand(program: Command): void {
  withExamples(
    program
      .command("get")
      .description("List applications, releases, runtimes, API keys or secrets (never their values)")
      .addArgument(new Argument("<kind>", "what to list").choices(KINDS))
      .option("--application <app>", "releases of this application")
      .option("--service <service>", "releases of this service")
      .option("--channel <channel>", "with --state: the state in this channel")
      .addOption(new Option("--state <state>", "releases in this state in a channel").choices(CHANNEL_STATES))
      .option("--author <author>", "releases by this author")
      .option("--since <time>", "releases created since: an RFC 3339 time, or a duration ago (1h)", parseInstant("ago"))
      .option("--limit <n>", "at most this many releases (1-200, default 50)", parseLimit)
      .option("--cursor <cursor>", "the next page, as the previous one said")
      .addOption(outputOption()),
    [
      "slipway get applications",
      "slipway get releases --application shop --since 1d",
      "slipway get releases --application shop --channel production --state waiting -o json",
      "slipway get runtimes",
    ],
  ).action(async (kind: Kind, options: Options, cmd: Command) => {
    const misplaced = RELEASE_FILTERS.find((f) => options[f] !== undefined);
    if (kind !== "releases" && misplaced) usage(cmd, `--${misplaced} filters releases only`);
    const client = clientOf(cmd);
    switch (kind) {
      case "applications": {
        const page = await client.get<Page<ApplicationSummary>>("/v1/applications");
        if (printData(options.output, page)) return;
        print(
          table(
            ["NAME", "VERSION", "CHANNELS", "SERVICES"],
            page.items.map((a) => [a.name, String(a.version), a.channels.join(", "), a.services.join(", ")]),
          ),
        );
        return;
      }
      case "releases": {
        const { output: _output, ...query } = options;
        const page = await client.get<Page<ReleaseSummary>>("/v1/releases", query);
        if (printData(options.output, page)) return;
        print(
          table(
            ["RELEASE", "APPLICATION", "SERVICE", "CREATED", "AUTHOR", "CHANNELS"],
            page.items.map((r) => [
              r.releaseId,
              r.application,
              r.service,
              relativeTime(r.createdAt),
              r.author ?? "-",
              r.bad ? paintState("bad") : r.channels.map((c) => `${c.name}:${paintState(c.state)}`).join(" "),
            ]),
          ),
        );
        if (page.nextCursor) note(`more: --cursor ${page.nextCursor}`);
        return;
      }
      case "runtimes": {
        const page = await client.get<Page<RuntimeView>>("/v1/runtimes");
        if (printData(options.output, page)) return;
        print(
          table(
            ["NAME", "TYPE", "LINKED", "STATUS", "AGENT", "LAST SEEN", "RUNNING"],
            page.items.map((r) => [
              r.name,
              r.proxyRuntime ? `extension (via ${r.proxyRuntime})` : r.type,
              r.linked ? "yes" : "no",
              paintState(r.status),
              r.agentVersion
                ? `${r.agentVersion}${r.upgradeAvailable ? paint("yellow", ` (upgrade: ${r.latestAgentVersion})`) : ""}`
                : "-",
              relativeTime(r.lastSeenAt),
              (r.running ?? []).map((s) => s.service).join(", ") || "-",
            ]),
          ),
        );
        return;
      }
      case "apikeys": {
        const page = await client.get<Page<ApiKeyView>>("/v1/api-keys");
        if (printData(options.output, page)) return;
        print(
          table(
            ["ID", "NAME", "SCOPES", "REVOKED"],
            page.items.map((k) => [k.keyId, k.name, k.scopes.join(","), k.revoked ? "yes" : "no"]),
          ),
        );
        return;
      }
      case "secrets": {
        const page = await client.get<Page<SecretView>>("/v1/secrets");
        if (printData(options.output, page)) return;
        print(
          table(
            ["NAME", "UPDATED", "BY"],
            page.items.map((s) => [s.name, relativeTime(s.updatedAt), s.updatedBy]),
          ),
        );
        return;
      }
    }
  });
}
