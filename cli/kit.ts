import type { Command } from "commander";
import { ApiClient } from "./client.js";
import { resolveTarget } from "./contexts.js";
import { EXIT } from "./errors.js";

/** What every command needs: its client, usage errors, and examples in its help. */

export type GlobalOptions = { context?: string };

/** A client for the server of `--context` (or the current context), env overrides applied. */
export function clientOf(cmd: Command): ApiClient {
  const { context } = cmd.optsWithGlobals<GlobalOptions>();
  return new ApiClient(resolveTarget(context));
}

/** A command line the command cannot work with: one line and its usage, exit code 2. */
export function usage(cmd: Command, message: string): never {
  cmd.error(`error: ${message}`, { exitCode: EXIT.usage, code: "slipway.usage" });
  throw new Error("unreachable: Command.error exits");
}

/** `Examples:` after the options in the command's help. */
export function withExamples(cmd: Command, examples: readonly string[]): Command {
  return cmd.addHelpText("after", `\nExamples:\n${examples.map((e) => `  $ ${e}`).join("\n")}`);
}

/** Collects a repeatable flag's values. */
export const collect = (value: string, previous: string[] = []) => [...previous, value];

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** `rel-…` ids as the API writes them; checked here so a typo is a usage error, not a 404. */
export const RELEASE_ID = /^[a-z0-9-]{1,64}$/;
