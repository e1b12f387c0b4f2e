import { InvalidArgumentError, type Command } from "commander";
import { readFileSync } from "node:fs";
import { ApiClient } from "../client.js";
import { contextFilePath, DEFAULT_CONTEXT, readContexts, writeContexts } from "../contexts.js";
import { ApiError, CliError } from "../errors.js";
import { type GlobalOptions, usage, withExamples } from "../kit.js";
import { note, outputOption, print, printData, table, type Format } from "../output.js";

/** `slipway login` and `slipway context use|list`: which server, with which key. */

function parseUrl(value: string): string {
  try {
    const url = new URL(value);
    if (url.protocol === "http:" || url.protocol === "https:") return value.replace(/\/+$/, "");
  } catch {
    // Falls through to the usage error.
  }
  throw new InvalidArgumentError("must be an http(s) URL such as http://127.0.0.1:8787.");
}

export function registerContextCommands(program: Command): void {
  withExamples(
    program
      .command("login")
      .description("Store a server and an API key as a context, and make it the current one")
      .requiredOption("--url <url>", "the Slipway HTTP API", parseUrl)
      .requiredOption("--api-key <key>", 'the API key ("-" reads it from standard input)')
      .option("--no-verify", "store it without asking the server whether the key works"),
    [
      "slipway login --url http://127.0.0.1:8787 --api-key $ADMIN_KEY",
      "slipway login --url https://slipway.example.com --api-key - --context prod < key.txt",
    ],
  ).action(async (options: { url: string; apiKey: string; verify: boolean }, cmd: Command) => {
    const name = cmd.optsWithGlobals<GlobalOptions>().context ?? DEFAULT_CONTEXT;
    const apiKey = options.apiKey === "-" ? readFileSync(0, "utf8").trim() : options.apiKey;
    if (!apiKey) usage(cmd, "--api-key is empty");
    if (options.verify) await verify(new ApiClient({ url: options.url, apiKey }));
    const path = contextFilePath();
    const file = readContexts(path);
    writeContexts({ current: name, contexts: { ...file.contexts, [name]: { url: options.url, apiKey } } }, path);
    print(`context "${name}" now talks to ${options.url} (stored in ${path})`);
  });

  const context = program.command("context").description("Switch between or list the stored contexts");
  withExamples(
    context
      .command("use")
      .description("Make a stored context the current one")
      .argument("<name>", "the context, as `slipway context list` shows it"),
    ["slipway context use prod"],
  ).action((name: string) => {
    const path = contextFilePath();
    const file = readContexts(path);
    if (!file.contexts[name])
      throw new CliError(
        `there is no context "${name}"; known: ${Object.keys(file.contexts).join(", ") || "none (log in first)"}`,
      );
    writeContexts({ ...file, current: name }, path);
    print(`current context: ${name} (${file.contexts[name].url})`);
  });
  withExamples(
    context.command("list").description("List the stored contexts (never their keys)").addOption(outputOption()),
    ["slipway context list", "slipway context list -o json"],
  ).action((options: { output: Format }) => {
    const file = readContexts();
    const contexts = Object.entries(file.contexts).map(([name, c]) => ({
      name,
      url: c.url,
      current: name === file.current,
    }));
    if (printData(options.output, { current: file.current ?? null, contexts })) return;
    if (!contexts.length) return note('no contexts yet: run "slipway login --url URL --api-key KEY"');
    print(
      table(
        ["CURRENT", "NAME", "URL"],
        contexts.map((c) => [c.current ? "*" : "", c.name, c.url]),
      ),
    );
  });
}

/**
 * Whether the server is there and takes the key. Reading runtimes needs the `read` scope; a key
 * without it (a CI key with only `release`) is still a key the server knows: 403, not 401.
 */
async function verify(client: ApiClient): Promise<void> {
  try {
    await client.get("/v1/runtimes");
  } catch (err) {
    if (err instanceof ApiError && err.problem.status === 403) {
      note("the key works but may not read (no read scope); commands that look will be refused");
      return;
    }
    throw err;
  }
}
