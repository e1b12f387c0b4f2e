import type { Command } from "commander";
import type { ApplyResult, StoredObject } from "../api-types.js";
import { crossCheck, localObjects, plan, serverIssues, withAnswer, type PlannedObject } from "../apply-plan.js";
import { readConfigSources, type FileIssue } from "../config-files.js";
import { ApiError, CliError } from "../errors.js";
import { clientOf, collect, withExamples } from "../kit.js";
import { note, outputOption, paint, print, printData, type Format } from "../output.js";

/** `slipway apply -f FILE|DIR…`: config files to the server, saying what each did. */

const invalid = (issues: readonly FileIssue[]) =>
  new CliError(
    issues.length === 1 ? "the config has 1 error" : `the config has ${issues.length} errors`,
    1,
    issues.map((i) => `${i.file}: ${i.message}`),
  );

export function registerApplyCommand(program: Command): void {
  withExamples(
    program
      .command("apply")
      .summary("Apply config files and folders: each object created, changed (with a diff) or unchanged")
      .description(
        "Apply config files: runtimes, applications and services. Folders are read recursively; " +
          "each object is reported as created, changed (with a short diff) or unchanged",
      )
      .requiredOption("-f, --filename <path>", 'a file, a folder, or "-" for standard input (repeatable)', collect)
      .option("--dry-run", "validate and show what would change, and change nothing")
      .addOption(outputOption()),
    ["slipway apply -f applications/", "slipway apply -f runtimes.yaml -f applications/shop --dry-run"],
  ).action(async (options: { filename: string[]; dryRun?: boolean; output: Format }, cmd: Command) => {
    const read = readConfigSources(options.filename);
    for (const s of read.skipped) note(`skipped ${s.file}: ${s.why}`);
    const { objects, issues } = localObjects(read.documents);
    if (read.issues.length || issues.length) throw invalid([...read.issues, ...issues]);
    if (!objects.length) throw new CliError(`no config documents in ${options.filename.join(", ")}`);

    const client = clientOf(cmd);
    const stored = (await client.get<{ items: StoredObject[] }>("/v1/configs")).items;
    const find = (kind: string, name: string) => stored.find((s) => s.kind === kind && s.name === name);
    let planned = objects.map((o) => plan(o, find(o.object.kind, o.object.name)));

    if (options.dryRun) {
      const problems = crossCheck(objects, stored);
      if (problems.length) throw invalid(problems);
    } else {
      let answer: ApplyResult;
      try {
        answer = await client.put<ApplyResult>(
          "/v1/configs",
          objects.map((o) => o.source.document),
        );
      } catch (err) {
        if (err instanceof ApiError && err.problem.errors?.length)
          throw invalid(serverIssues(err.problem.errors, objects));
        throw err;
      }
      planned = planned.map((p) => withAnswer(p, answer));
    }
    const dryRun = Boolean(options.dryRun);
    if (printData(options.output, { dryRun, objects: planned })) return;
    for (const p of planned) print(describe(p, dryRun));
  });
}

function describe(p: PlannedObject, dryRun: boolean): string {
  const colour = p.result === "created" ? "green" : p.result === "changed" ? "yellow" : "dim";
  const version = p.version === undefined ? "" : ` (version ${p.version})`;
  const line = `${p.kind}/${p.name} ${paint(colour, p.result)}${dryRun ? " (dry run)" : version}  ${paint("dim", p.file)}`;
  const diff = (p.diff ?? []).map((d) =>
    d.startsWith("+") ? paint("green", `    ${d}`) : d.startsWith("-") ? paint("red", `    ${d}`) : `    ${d}`,
  );
  return [line, ...diff].join("\n");
}
