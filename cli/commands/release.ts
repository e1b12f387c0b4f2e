import { InvalidArgumentError, type Command } from "commander";
import { CliError } from "../errors.js";
import { clientOf, RELEASE_ID, usage, withExamples } from "../kit.js";
import { outputOption, print, printData, type Format } from "../output.js";
import { parseDuration } from "../time.js";
import { watchRelease } from "../watch.js";

/** `slipway release create|watch`: a release as CI makes one, and following it to production. */

/**
 * `k=v` sends the string `v`; `k:=v` sends `v` as JSON (`replicas:=3` a number), as httpie writes
 * it — a parameter's type is the service's to say, and a CLI cannot tell `"3"` from `3` otherwise.
 */
export function parseParam(value: string, previous: Record<string, unknown> = {}): Record<string, unknown> {
  const m = /^([A-Za-z_][A-Za-z0-9_]*)(:?=)([\s\S]*)$/.exec(value);
  if (!m) throw new InvalidArgumentError("must be name=value (a string) or name:=value (JSON, such as replicas:=3).");
  const [, name, op, raw] = m as unknown as [string, string, string, string];
  if (op === "=") return { ...previous, [name]: raw };
  try {
    return { ...previous, [name]: JSON.parse(raw) as unknown };
  } catch {
    throw new InvalidArgumentError(`the value of ${name}:= must be JSON (3, true, "text").`);
  }
}

type WatchFlags = { until?: string; timeout?: number; output: Format };

export function registerReleaseCommands(program: Command): void {
  const release = program.command("release").description("Create a release, or watch one go through its channels");

  withExamples(
    release
      .command("create")
      .summary("Create a release as CI does (a release-scoped key)")
      .description(
        "Create a release as CI does (POST /v1/webhooks/ci), authorized by the context's API key, which needs the release scope",
      )
      .requiredOption("--application <app>", "the application")
      .requiredOption("--service <service>", "the service")
      .option("--param <name=value>", "a parameter (repeatable); name:=value sends JSON", parseParam, {})
      .option(
        "--author <identity>",
        "who made the change (an API key's name or slack:<user id>); they may not approve it",
      )
      .option("--commit <sha>", "the source commit")
      .option("--branch <branch>", "the source branch")
      .option("--source-url <url>", "a link to the build")
      .option("--message <text>", "the commit message")
      .option("--delivery <id>", "an idempotency key: the same id gives the same release back")
      .option("--wait", "then watch the release until it has converged in the last channel (or --until)")
      .option("--until <channel>", "with --wait: until it has converged in this channel")
      .option("--timeout <duration>", "with --wait: give up after this long (30s, 5m, 1h; exit code 3)", parseDuration)
      .addOption(outputOption()),
    [
      "slipway release create --application shop --service api --param image=registry.example.com/shop/api:1.4.2",
      "slipway release create --application shop --service api --param image=$IMAGE --param replicas:=3 --wait --timeout 15m",
    ],
  ).action(
    async (
      options: {
        application: string;
        service: string;
        param: Record<string, unknown>;
        author?: string;
        commit?: string;
        branch?: string;
        sourceUrl?: string;
        message?: string;
        delivery?: string;
        wait?: boolean;
      } & WatchFlags,
      cmd: Command,
    ) => {
      if (!options.wait && (options.until || options.timeout !== undefined))
        usage(cmd, "--until and --timeout go with --wait");
      if (options.delivery !== undefined && !/^[A-Za-z0-9._:-]{1,128}$/.test(options.delivery))
        usage(cmd, "--delivery must be 1-128 letters, digits, '.', '_', ':' or '-'");
      const source = {
        ...(options.commit ? { commit: options.commit } : {}),
        ...(options.branch ? { branch: options.branch } : {}),
        ...(options.sourceUrl ? { url: options.sourceUrl } : {}),
        ...(options.message ? { message: options.message } : {}),
      };
      const client = clientOf(cmd);
      const created = await client.post<{ releaseId: string; duplicate: boolean }>(
        "/v1/webhooks/ci",
        {
          application: options.application,
          service: options.service,
          params: options.param,
          ...(Object.keys(source).length ? { source } : {}),
          ...(options.author ? { author: options.author } : {}),
        },
        options.delivery ? { "x-slipway-delivery": options.delivery } : {},
      );
      if (!options.wait) {
        if (printData(options.output, created)) return;
        print(
          created.duplicate
            ? `${created.releaseId} (already created by delivery ${options.delivery})`
            : created.releaseId,
        );
        return;
      }
      if (options.output === "table") print(`created ${created.releaseId}`);
      await watchRelease(client, created.releaseId, watchOptions(options));
    },
  );

  withExamples(
    release
      .command("watch")
      .summary("Follow a release until it has converged (or never will)")
      .description(
        "Follow a release channel by channel. Exits 0 once it has converged in the last channel (or --until); " +
          "1 when it failed, was abandoned, rolled back, superseded or marked bad; 3 after --timeout",
      )
      .argument("<release>", "the release id")
      .option("--until <channel>", "until it has converged in this channel")
      .option("--timeout <duration>", "give up after this long (30s, 5m, 1h; exit code 3)", parseDuration)
      .addOption(outputOption()),
    ["slipway release watch rel-0mbx3k2c1a2b3c4d5e", "slipway release watch $RELEASE --until staging --timeout 10m"],
  ).action(async (releaseId: string, options: WatchFlags, cmd: Command) => {
    if (!RELEASE_ID.test(releaseId)) usage(cmd, `"${releaseId}" is not a release id (rel-…)`);
    await watchRelease(clientOf(cmd), releaseId, watchOptions(options));
  });
}

function watchOptions(flags: WatchFlags) {
  if (flags.until === "") throw new CliError("--until must name a channel");
  return {
    output: flags.output,
    ...(flags.until ? { until: flags.until } : {}),
    ...(flags.timeout !== undefined ? { timeoutSeconds: flags.timeout } : {}),
  };
}
