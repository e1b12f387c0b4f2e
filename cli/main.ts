import { CommanderError } from "commander";
import { CliError, EXIT } from "./errors.js";
import { buildProgram } from "./program.js";

/**
 * `slipway`: runs the command line and turns every way it can end into an exit code and at most a
 * few lines on stderr — never a stack trace (`SLIPWAY_DEBUG=1` shows one).
 */

function exitCodeOf(err: unknown): number {
  if (err instanceof CommanderError) {
    // Commander has printed its message (and the usage line) already.
    if (err.code === "commander.helpDisplayed" || err.code === "commander.version") return EXIT.ok;
    return err.exitCode === EXIT.ok ? EXIT.ok : EXIT.usage;
  }
  if (err instanceof CliError) {
    process.stderr.write(`error: ${err.message}\n${err.details.map((d) => `  ${d}\n`).join("")}`);
    return err.exitCode;
  }
  const message = err instanceof Error ? err.message : String(err);
  process.stderr.write(`error: ${message}\n`);
  if (process.env.SLIPWAY_DEBUG && err instanceof Error) process.stderr.write(`${err.stack}\n`);
  return EXIT.failed;
}

let code: number = EXIT.ok;
try {
  await buildProgram().parseAsync(process.argv);
} catch (err) {
  code = exitCodeOf(err);
}
// Leave once what was printed is out: an idle keep-alive connection must not hold the process open.
process.stdout.write("", () => process.exit(code));
