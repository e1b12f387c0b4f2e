import { Command } from "commander";
import { registerApplyCommand } from "./commands/apply.js";
import { registerCompletionCommand } from "./commands/completion.js";
import { registerContextCommands } from "./commands/contexts.js";
import { registerDescribeCommands } from "./commands/describe.js";
import { registerEventsCommand } from "./commands/events.js";
import { registerGetCommand } from "./commands/get.js";
import { registerOperationCommands } from "./commands/operations.js";
import { registerReleaseCommands } from "./commands/release.js";
import { registerRuntimeCommands } from "./commands/runtime.js";
import { registerSecretCommands } from "./commands/secret.js";
import { CLI_VERSION } from "./version.js";

/** The `slipway` command tree. */

const FOOTER = `
Environment:
  SLIPWAY_URL       the server, instead of the context's
  SLIPWAY_API_KEY   the API key, instead of the context's
  NO_COLOR          plain output: no colour, no redrawn progress (as when output is not a terminal)

Exit codes: 0 done; 1 refused, unreachable, or the release did not get there; 2 a bad command
line; 3 timed out (--timeout).

Docs: docs/cli.md`;

export function buildProgram(): Command {
  const program = new Command("slipway")
    .description("Slipway's command line: apply config, create and follow releases, approve, operate.")
    .version(CLI_VERSION, "-v, --version", "print the version")
    .option("--context <name>", "the stored context to use (default: the current one)")
    .helpCommand(false)
    .showSuggestionAfterError()
    .addHelpText("after", FOOTER);

  registerContextCommands(program);
  registerApplyCommand(program);
  registerGetCommand(program);
  registerDescribeCommands(program);
  registerReleaseCommands(program);
  registerOperationCommands(program);
  registerRuntimeCommands(program);
  registerSecretCommands(program);
  registerEventsCommand(program);
  registerCompletionCommand(program);

  // Every command, however deep: errors throw (main turns them into exit code 2) and are followed
  // by the command's usage line rather than its whole help.
  const everyCommand = (cmd: Command): Command[] => [cmd, ...cmd.commands.flatMap(everyCommand)];
  for (const cmd of everyCommand(program)) {
    const names: string[] = [];
    for (let c: Command | null = cmd; c; c = c.parent) names.unshift(c.name());
    cmd
      .helpCommand(false)
      .exitOverride()
      .showHelpAfterError(`usage: ${cmd.createHelp().commandUsage(cmd)}\n(see "${names.join(" ")} --help")`);
  }
  return program;
}
