import type { Command } from "commander";
import type { ApplicationView, ReleaseView, RuntimeView } from "../api-types.js";
import { clientOf, RELEASE_ID, usage, withExamples } from "../kit.js";
import {
  fields,
  formatParams,
  outputOption,
  paint,
  paintState,
  print,
  printData,
  table,
  type Format,
} from "../output.js";
import { createdAtOf, summaryOf, waitingReasons } from "../release-progress.js";
import { parseInstant, relativeTime } from "../time.js";

/** `slipway describe release|application|runtime`: one object in full, gates with their reasons. */

const enc = encodeURIComponent;

export function registerDescribeCommands(program: Command): void {
  const describe = program.command("describe").description("Show one release, application or runtime in full");

  withExamples(
    describe
      .command("release")
      .description("A release: each channel's state, its gates with their reasons and when they can change, approvals")
      .argument("<release>", "the release id")
      .addOption(outputOption()),
    ["slipway describe release rel-0mbx3k2c1a2b3c4d5e", "slipway describe release $RELEASE -o json"],
  ).action(async (releaseId: string, options: { output: Format }, cmd: Command) => {
    if (!RELEASE_ID.test(releaseId)) usage(cmd, `"${releaseId}" is not a release id (rel-…)`);
    const client = clientOf(cmd);
    const createdAt = await createdAtOf(client, releaseId);
    const view = await client.get<ReleaseView>(`/v1/releases/${enc(releaseId)}`);
    const summary = await summaryOf(client, view, createdAt);
    const stateOf = (channel: string) => summary?.channels.find((c) => c.name === channel)?.state ?? "pending";
    const described = {
      ...view,
      createdAt: summary?.createdAt ?? createdAt,
      channels: view.channels.map((c) => ({ ...c, state: stateOf(c.name) })),
    };
    if (printData(options.output, described)) return;

    const source = Object.entries(view.source ?? {}).filter(([, v]) => v);
    print(
      fields([
        ["Release", view.releaseId],
        ["Application", view.application],
        ["Service", view.service],
        ["Params", formatParams(view.params)],
        ["Author", view.author],
        ["Source", source.map(([k, v]) => `${k}=${v}`).join(", ")],
        ["Cause", view.cause === "config" ? `config change (based on ${view.basedOn ?? "?"})` : "ci"],
        ["Status", view.bad ? paint("red", `bad: ${view.bad.reason}`) : paintState(view.status)],
        ["Created", relativeTime(described.createdAt)],
        [
          "Config",
          `application v${view.configVersions.application}, service v${view.configVersions.service}` +
            Object.entries(view.configVersions.runtimes ?? {})
              .map(([r, v]) => `, runtime ${r} v${v}`)
              .join(""),
        ],
      ]),
    );
    for (const c of view.channels) {
      const state = stateOf(c.name);
      print(`\n${paint("bold", c.name)}  ${paintState(state)}`);
      const gates = Object.entries(c.preconditions);
      if (gates.length)
        print(
          indent(
            table(
              ["GATE", "STATE", "DETAIL"],
              gates.map(([key, g]) => [
                key,
                paintState(g.state),
                g.state === "blocked" ? `${g.reason}${g.until ? ` (${relativeTime(g.until)})` : ""}` : (g.note ?? ""),
              ]),
            ),
          ),
        );
      for (const [name, a] of Object.entries(c.approvals)) {
        const of = a.minApprovers === undefined ? "" : ` of ${a.minApprovers}`;
        const by = a.grantedBy.length ? `: ${a.grantedBy.join(", ")}` : "";
        const rejected = a.rejected
          ? `, rejected by ${a.rejected.approver}${a.rejected.comment ? `: ${a.rejected.comment}` : ""}`
          : "";
        print(
          `  approval ${name}: ${a.grantedBy.length}${of} approved${by}${rejected}${a.requested ? "" : " (pre-approval)"}`,
        );
      }
      for (const [gate, o] of Object.entries(c.overrides ?? {})) print(`  overridden ${gate} by ${o.by}: ${o.reason}`);
      if (c.explicitPromotion) print(`  promoted explicitly: ${c.explicitPromotion.reason}`);
      if (c.supersededBy) print(`  superseded by ${c.supersededBy}`);
      if (state === "waiting") {
        const others = waitingReasons(c.name, summary, undefined);
        const gateReasons = new Set(gates.flatMap(([, g]) => (g.state === "blocked" ? [g.reason] : [])));
        for (const reason of others.filter((r) => !gateReasons.has(r))) print(`  waiting: ${reason}`);
      }
    }
  });

  withExamples(
    describe
      .command("application")
      .description("An application: per channel, each service's desired and converged release, and what waits and why")
      .argument("<application>", "the application")
      .option("--as-of <time>", "as it was then: an RFC 3339 time, or a duration ago (1h)", parseInstant("ago"))
      .addOption(outputOption()),
    ["slipway describe application shop", "slipway describe application shop --as-of 2026-12-24T18:00:00Z"],
  ).action(async (application: string, options: { asOf?: string; output: Format }, cmd: Command) => {
    const view = await clientOf(cmd).get<ApplicationView>(
      `/v1/applications/${enc(application)}`,
      options.asOf ? { asOf: options.asOf } : {},
    );
    if (printData(options.output, view)) return;
    print(
      fields([
        ["Application", `${view.application} (version ${view.version})`],
        ["As of", options.asOf],
      ]),
    );
    for (const c of view.channels) {
      const paused = c.paused
        ? paint(
            "yellow",
            `  paused${c.paused.until ? ` until ${c.paused.until} (${relativeTime(c.paused.until)})` : ""}${c.paused.reason ? `: ${c.paused.reason}` : ""}`,
          )
        : "";
      const unlinked = c.unlinkedRuntimes?.length
        ? paint("red", `  ${c.unlinkedRuntimes.join(", ")} not linked: nothing deploys there (slipway runtime link)`)
        : "";
      print(`\n${paint("bold", c.name)}${paused}${unlinked}`);
      const services = Object.entries(c.services);
      if (services.length)
        print(
          indent(
            table(
              ["SERVICE", "STATE", "DESIRED", "CONVERGED", "SINCE"],
              services.map(([name, s]) => [
                name,
                paintState(s.state),
                `${s.desiredReleaseId ?? "-"}${s.rollback ? " (rollback)" : ""}`,
                s.convergedReleaseId ?? "-",
                relativeTime(s.convergedAt),
              ]),
            ),
          ),
        );
      else print("  no service deployed yet");
      for (const w of c.waiting) print(`  waiting: ${w.releaseId}: ${w.reasons.join("; ")}`);
    }
  });

  withExamples(
    describe
      .command("runtime")
      .description("A runtime: its agent, its lease, and what the agent last said runs there")
      .argument("<runtime>", "the runtime")
      .addOption(outputOption()),
    ["slipway describe runtime k8s-staging"],
  ).action(async (name: string, options: { output: Format }, cmd: Command) => {
    const r = await clientOf(cmd).get<RuntimeView>(`/v1/runtimes/${encodeURIComponent(name)}`);
    if (printData(options.output, r)) return;
    print(
      fields([
        ["Runtime", r.name],
        ["Type", r.proxyRuntime ? `extension, through ${r.proxyRuntime}` : r.type],
        ["Linked", r.linked ? "yes" : "no (slipway runtime link)"],
        ["Status", paintState(r.status)],
        [
          "Agent",
          r.agentVersion
            ? `${r.agentVersion}${r.leaseGeneration ? ` (lease ${r.leaseGeneration})` : ""}${r.upgradeAvailable ? paint("yellow", ` — upgrade available: ${r.latestAgentVersion}`) : ""}`
            : undefined,
        ],
        [
          "Management",
          r.management === "external"
            ? "external (its operators keep the agent current)"
            : r.management === "managed"
              ? "managed (an outdated agent is asked to upgrade)"
              : undefined,
        ],
        [
          "Token",
          r.previousTokenValidUntil
            ? `rotated ${relativeTime(r.tokenRotatedAt)}; the previous token is accepted until ${r.previousTokenValidUntil} (${relativeTime(r.previousTokenValidUntil)})`
            : undefined,
        ],
        ["Last seen", r.lastSeenAt ? relativeTime(r.lastSeenAt) : undefined],
        ["Disconnected", r.disconnectReason],
        [
          "Cluster",
          r.cluster
            ? `${r.cluster.id}${r.cluster.serverVersion ? ` (Kubernetes ${r.cluster.serverVersion})` : ""}`
            : undefined,
        ],
      ]),
    );
    if (r.running?.length) {
      print(`\nRunning (reported ${relativeTime(r.stateReportedAt)}):`);
      print(
        indent(
          table(
            ["SERVICE", "RELEASE", "HEALTHY", "IMAGES"],
            r.running.map((s) => [
              s.service,
              s.releaseId ?? "-",
              s.healthy ? "yes" : paint("red", "no"),
              (s.images ?? []).join(", "),
            ]),
          ),
        ),
      );
    }
  });
}

const indent = (text: string) =>
  text
    .split("\n")
    .map((l) => `  ${l}`)
    .join("\n");
