import { readFileSync } from "node:fs";
import type { Command } from "commander";
import type { SecretView } from "../api-types.js";
import { CliError } from "../errors.js";
import { clientOf, usage, withExamples } from "../kit.js";
import { outputOption, print, printData, type Format } from "../output.js";

/**
 * `slipway secret set|delete`: named secrets (outbound webhooks' signing keys). A value is read
 * from standard input or a file, never from the command line, where shell history and `ps` see it.
 */

const NAME = /^[a-z]([a-z0-9-]*[a-z0-9])?$/;

function readValue(fromFile: string | undefined): string {
  let text: string;
  try {
    text = readFileSync(fromFile ?? 0, "utf8");
  } catch {
    throw new CliError(fromFile ? `cannot read ${fromFile}` : "cannot read the value from standard input");
  }
  // A trailing newline (echo, a file saved by an editor) is not part of the secret.
  return text.replace(/\r?\n$/, "");
}

export function registerSecretCommands(program: Command): void {
  const secret = program.command("secret").description("Set or delete named secrets (list them with get secrets)");

  withExamples(
    secret
      .command("set")
      .description("Set a secret from standard input (or --from-file); setting it again replaces the value")
      .argument("<name>", "the secret's name, as notifications.webhooks[].secretName names it")
      .option("--from-file <path>", "read the value from this file instead of standard input")
      .addOption(outputOption()),
    [
      "openssl rand -hex 32 | slipway secret set deploy-hook",
      "slipway secret set deploy-hook --from-file ./deploy-hook.key",
    ],
  ).action(async (name: string, options: { fromFile?: string; output: Format }, cmd: Command) => {
    if (!NAME.test(name) || name.length > 63)
      usage(cmd, "<name> must be lowercase letters, digits and '-', starting with a letter");
    if (options.fromFile === undefined && process.stdin.isTTY)
      usage(cmd, "pipe the value on standard input, or give --from-file");
    const value = readValue(options.fromFile);
    const set = await clientOf(cmd).request<SecretView>("PUT", `/v1/secrets/${name}`, { body: { value } });
    if (printData(options.output, set)) return;
    print(`secret ${set.name} set`);
  });

  withExamples(secret.command("delete").description("Delete a secret").argument("<name>", "the secret"), [
    "slipway secret delete deploy-hook",
  ]).action(async (name: string, _options: object, cmd: Command) => {
    if (!NAME.test(name) || name.length > 63)
      usage(cmd, "<name> must be lowercase letters, digits and '-', starting with a letter");
    await clientOf(cmd).request("DELETE", `/v1/secrets/${name}`);
    print(`secret ${name} deleted`);
  });
}
