import type { Command } from "commander";
import type { ApprovalAnswer, ReleaseView } from "../api-types.js";
import { clientOf, RELEASE_ID, usage, withExamples } from "../kit.js";
import { outputOption, print, printData, type Format } from "../output.js";
import { parseInstant } from "../time.js";

/**
 * The operator's verbs: approve and reject; abandon, mark bad, promote past a rollback hold,
 * override a gate; pause, resume and roll back a channel. Each is one call of the API; repeating
 * one changes nothing (`changed: false`), which the CLI says.
 */

type Done = { changed: boolean };
const enc = encodeURIComponent;

function checkRelease(cmd: Command, id: string): void {
  if (!RELEASE_ID.test(id)) usage(cmd, `"${id}" is not a release id (rel-…)`);
}

/** What the command did, or that it had been done already. */
function report(format: Format, answer: Done, did: string, already: string): void {
  if (printData(format, answer)) return;
  print(answer.changed ? did : `${already} (nothing changed)`);
}

export function registerOperationCommands(program: Command): void {
  for (const decision of ["approve", "reject"] as const) {
    withExamples(
      program
        .command(decision)
        .summary(decision === "approve" ? "Approve a release in a channel" : "Reject a release in a channel")
        .description(
          decision === "approve"
            ? "Approve a release in a channel (the API key's name is the approver); before the release gets there, a pre-approval"
            : "Reject a release in a channel: it never goes there",
        )
        .argument("<release>", "the release id")
        .requiredOption("--channel <channel>", "the channel whose approval this is")
        .option("--approval <name>", "the approval, when the channel has several (default: approval)")
        .option("--comment <text>", "why")
        .addOption(outputOption()),
      [
        `slipway ${decision} rel-0mbx3k2c1a2b3c4d5e --channel production`,
        `slipway ${decision} $RELEASE --channel production --approval release-managers --comment "looks good"`,
      ],
    ).action(
      async (
        releaseId: string,
        options: { channel: string; approval?: string; comment?: string; output: Format },
        cmd: Command,
      ) => {
        checkRelease(cmd, releaseId);
        const answer = await clientOf(cmd).post<ApprovalAnswer>(
          `/v1/releases/${enc(releaseId)}/channels/${enc(options.channel)}/approvals`,
          {
            decision,
            ...(options.approval ? { approval: options.approval } : {}),
            ...(options.comment ? { comment: options.comment } : {}),
          },
        );
        if (printData(options.output, answer)) return;
        const count = `${answer.grantedBy.length} of ${answer.minApprovers}${answer.grantedBy.length ? `: ${answer.grantedBy.join(", ")}` : ""}`;
        const early = answer.requested ? "" : " (a pre-approval: it counts once the release gets there)";
        print(
          `approval "${answer.approval}" of ${releaseId} in ${options.channel}: ${answer.state} (${count})${early}`,
        );
      },
    );
  }

  withExamples(
    program
      .command("abandon")
      .description("Abandon a release: it is never promoted further")
      .argument("<release>", "the release id")
      .option("--reason <text>", "why")
      .addOption(outputOption()),
    ['slipway abandon rel-0mbx3k2c1a2b3c4d5e --reason "superseded by a hotfix"'],
  ).action(async (releaseId: string, options: { reason?: string; output: Format }, cmd: Command) => {
    checkRelease(cmd, releaseId);
    const answer = await clientOf(cmd).post<Done>(`/v1/releases/${enc(releaseId)}/abandon`, reasonBody(options.reason));
    report(options.output, answer, `release ${releaseId} abandoned`, `release ${releaseId} was abandoned already`);
  });

  withExamples(
    program
      .command("mark-bad")
      .description("Mark a release bad: it leaves every channel where it waits and is never promoted again")
      .argument("<release>", "the release id")
      .requiredOption("--reason <text>", "why")
      .option("--rollback", "also roll back every channel running it to its previous good release")
      .addOption(outputOption()),
    ['slipway mark-bad rel-0mbx3k2c1a2b3c4d5e --reason "corrupts carts" --rollback'],
  ).action(async (releaseId: string, options: { reason: string; rollback?: boolean; output: Format }, cmd: Command) => {
    checkRelease(cmd, releaseId);
    const answer = await clientOf(cmd).post<
      Done & {
        rolledBack: { channel: string; toReleaseId: string }[];
        notRolledBack: { channel: string; reason: string }[];
      }
    >(`/v1/releases/${enc(releaseId)}/mark-bad`, { reason: options.reason, rollback: Boolean(options.rollback) });
    if (printData(options.output, answer)) return;
    print(
      answer.changed
        ? `release ${releaseId} marked bad`
        : `release ${releaseId} was marked bad already (nothing changed)`,
    );
    for (const r of answer.rolledBack) print(`  ${r.channel}: rolled back to ${r.toReleaseId}`);
    for (const r of answer.notRolledBack) print(`  ${r.channel}: not rolled back: ${r.reason}`);
  });

  withExamples(
    program
      .command("promote")
      .description("Lift a channel's rollback hold for a release; its gates still apply")
      .argument("<release>", "the release id")
      .requiredOption("--channel <channel>", "the channel that holds it back")
      .requiredOption("--reason <text>", "why")
      .addOption(outputOption()),
    ['slipway promote rel-0mbx3k2c1a2b3c4d5e --channel production --reason "fixed by config change"'],
  ).action(async (releaseId: string, options: { channel: string; reason: string; output: Format }, cmd: Command) => {
    checkRelease(cmd, releaseId);
    const answer = await clientOf(cmd).post<Done>(
      `/v1/releases/${enc(releaseId)}/channels/${enc(options.channel)}/promote`,
      { reason: options.reason },
    );
    report(
      options.output,
      answer,
      `release ${releaseId} may go to ${options.channel} again`,
      `release ${releaseId} was promoted to ${options.channel} already`,
    );
  });

  withExamples(
    program
      .command("override")
      .description("Lift one blocked gate (a soak or an approval) for one release in one channel")
      .argument("<release>", "the release id")
      .requiredOption("--channel <channel>", "the channel")
      .requiredOption("--gate <key>", "the gate, as `slipway describe release` names it (manualApproval:approval)")
      .requiredOption("--reason <text>", "why")
      .addOption(outputOption()),
    [
      'slipway override rel-0mbx3k2c1a2b3c4d5e --channel production --gate releaseChannelStable:staging --reason "hotfix"',
    ],
  ).action(
    async (
      releaseId: string,
      options: { channel: string; gate: string; reason: string; output: Format },
      cmd: Command,
    ) => {
      checkRelease(cmd, releaseId);
      const answer = await clientOf(cmd).post<Done>(
        `/v1/releases/${enc(releaseId)}/channels/${enc(options.channel)}/override`,
        { gate: options.gate, reason: options.reason },
      );
      report(
        options.output,
        answer,
        `gate ${options.gate} overridden for ${releaseId} in ${options.channel}`,
        `gate ${options.gate} was overridden for ${releaseId} in ${options.channel} already`,
      );
    },
  );

  withExamples(
    program
      .command("pause")
      .description("Pause a channel: no release is promoted there until it is resumed (or until --until)")
      .argument("<application>", "the application")
      .requiredOption("--channel <channel>", "the channel")
      .option(
        "--until <time>",
        "resume by itself then: an RFC 3339 time, or a duration from now (2h)",
        parseInstant("ahead"),
      )
      .option("--reason <text>", "why")
      .addOption(outputOption()),
    ['slipway pause shop --channel production --until 2h --reason "incident 42"'],
  ).action(
    async (
      application: string,
      options: { channel: string; until?: string; reason?: string; output: Format },
      cmd: Command,
    ) => {
      const answer = await clientOf(cmd).post<Done>(
        `/v1/applications/${enc(application)}/channels/${enc(options.channel)}/pause`,
        { ...(options.reason ? { reason: options.reason } : {}), ...(options.until ? { until: options.until } : {}) },
      );
      const until = options.until ? ` until ${options.until}` : "";
      report(
        options.output,
        answer,
        `${application}/${options.channel} paused${until}`,
        `${application}/${options.channel} was paused already`,
      );
    },
  );

  withExamples(
    program
      .command("resume")
      .description("Resume a paused channel: the releases waiting there are evaluated again")
      .argument("<application>", "the application")
      .requiredOption("--channel <channel>", "the channel")
      .addOption(outputOption()),
    ["slipway resume shop --channel production"],
  ).action(async (application: string, options: { channel: string; output: Format }, cmd: Command) => {
    const answer = await clientOf(cmd).post<Done>(
      `/v1/applications/${enc(application)}/channels/${enc(options.channel)}/resume`,
    );
    report(
      options.output,
      answer,
      `${application}/${options.channel} resumed`,
      `${application}/${options.channel} was not paused`,
    );
  });

  withExamples(
    program
      .command("rollback")
      .summary("Roll a channel back to a release that converged there before")
      .description(
        "Roll a channel back to a release that converged there before (its service and application are the release's), skipping the channel's gates",
      )
      .requiredOption("--to <release>", "the release to go back to")
      .requiredOption("--channel <channel>", "the channel")
      .option("--reason <text>", "why")
      .addOption(outputOption()),
    ['slipway rollback --to rel-0mbx3k2c1a2b3c4d5e --channel production --reason "errors after 1.4.3"'],
  ).action(async (options: { to: string; channel: string; reason?: string; output: Format }, cmd: Command) => {
    checkRelease(cmd, options.to);
    const client = clientOf(cmd);
    const target = await client.get<ReleaseView>(`/v1/releases/${enc(options.to)}`);
    const answer = await client.post<Done & { instructions: string[] }>(
      `/v1/applications/${enc(target.application)}/channels/${enc(options.channel)}/rollback`,
      { service: target.service, releaseId: options.to, ...(options.reason ? { reason: options.reason } : {}) },
    );
    report(
      options.output,
      answer,
      `${target.application}/${options.channel}: ${target.service} rolling back to ${options.to} (${answer.instructions.length} instruction(s))`,
      `${target.application}/${options.channel}: ${target.service} is at ${options.to} already`,
    );
  });
}

const reasonBody = (reason: string | undefined) => (reason ? { reason } : {});
