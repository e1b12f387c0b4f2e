import type { ReleaseSummary, ReleaseView } from "./api-types.js";
import type { ApiClient } from "./client.js";
import { ApiError, CliError, EXIT, TimeoutError } from "./errors.js";
import { sleep } from "./kit.js";
import { formatParams, isFancy, paint, paintState, print, type Format } from "./output.js";
import { createdAtOf, judge, summaryOf, waitingReasons, type Verdict } from "./release-progress.js";
import { formatDuration, relativeTime } from "./time.js";

/**
 * Following a release until it has converged in a channel (the last one, or `--until`), or never
 * will. On a terminal each channel is a line redrawn in place with a spinner; anywhere else a
 * plain line is printed whenever a channel's state or reasons change.
 */

export type WatchOptions = { until?: string; timeoutSeconds?: number; output: Format; intervalMs?: number };
export type WatchOutcome = {
  releaseId: string;
  outcome: "converged" | "failed" | "timedOut";
  channel: string;
  reason?: string;
  channels: ReleaseSummary["channels"];
};

const POLL_MS = 1000;
/** Consecutive failed polls (server restarting, a proxy's 502) a watch rides out before giving up. */
const TOLERATED_FAILURES = 5;

export async function watchRelease(client: ApiClient, releaseId: string, options: WatchOptions): Promise<void> {
  const createdAt = await createdAtOf(client, releaseId);
  const started = Date.now();
  const deadline = options.timeoutSeconds === undefined ? undefined : started + options.timeoutSeconds * 1000;
  const display = options.output === "table" ? new Display() : undefined;
  let failures = 0;
  let target: string | undefined;
  for (;;) {
    let view: ReleaseView;
    let summary: ReleaseSummary | undefined;
    try {
      view = await client.get<ReleaseView>(`/v1/releases/${releaseId}`);
      summary = await summaryOf(client, view, createdAt);
      failures = 0;
    } catch (err) {
      const transient = !(err instanceof ApiError) || err.problem.status >= 500;
      if (!transient || ++failures > TOLERATED_FAILURES) throw err;
      await sleep(options.intervalMs ?? POLL_MS);
      continue;
    }
    if (target === undefined) {
      const names = view.channels.map((c) => c.name);
      target = options.until ?? names[names.length - 1]!;
      if (!names.includes(target))
        throw new CliError(
          `--until: release ${releaseId} has no channel "${target}" (it has ${names.join(", ")})`,
          EXIT.usage,
        );
      display?.header(view);
    }
    // Right after creation the summary may not be listed yet: the release is simply pending.
    const verdict: Verdict = summary ? judge(summary, target, view) : { done: false, reason: "pending" };
    display?.update(view, summary);
    if (verdict.done) {
      display?.finish();
      const outcome: WatchOutcome = {
        releaseId,
        outcome: verdict.ok ? "converged" : "failed",
        channel: target,
        ...(verdict.ok ? {} : { reason: verdict.reason }),
        channels: summary?.channels ?? [],
      };
      if (options.output !== "table") print(JSON.stringify(outcome, null, 2));
      if (!verdict.ok) throw new CliError(verdict.reason);
      if (options.output === "table") print(paint("green", verdict.message));
      return;
    }
    if (deadline !== undefined && Date.now() >= deadline) {
      display?.finish();
      const reason = `release ${releaseId} did not converge in ${target} within ${formatDuration(options.timeoutSeconds!)}: ${verdict.reason}`;
      if (options.output !== "table")
        print(
          JSON.stringify(
            { releaseId, outcome: "timedOut", channel: target, reason, channels: summary?.channels ?? [] },
            null,
            2,
          ),
        );
      throw new TimeoutError(reason);
    }
    await sleep(options.intervalMs ?? POLL_MS);
  }
}

const SPINNER = ["⠋", "⠙", "⠹", "⠸", "⠼", "⠴", "⠦", "⠧", "⠇", "⠏"];
const SETTLED: Record<string, string> = {
  converged: "✓",
  replaced: "✓",
  failed: "✗",
  rolledBack: "✗",
  superseded: "✗",
  abandoned: "✗",
  bad: "✗",
};

/** The progress lines: redrawn in place on a terminal, printed as they change anywhere else. */
class Display {
  private readonly fancy = isFancy();
  private drawn = 0;
  private frame = 0;
  private readonly last = new Map<string, string>();

  header(view: ReleaseView): void {
    print(`release ${view.releaseId}: ${view.application}/${view.service} ${formatParams(view.params)}`);
  }

  update(view: ReleaseView, summary: ReleaseSummary | undefined): void {
    const width = Math.max(...view.channels.map((c) => c.name.length));
    const lines = view.channels.map((c) => {
      const state = summary?.channels.find((s) => s.name === c.name)?.state ?? "pending";
      const reasons = state === "waiting" ? waitingReasons(c.name, summary, view, { countdown: false }) : [];
      // The soonest a gate changes by itself, kept ahead of the reasons a narrow terminal cuts.
      const next = Object.values(c.preconditions)
        .flatMap((g) => (g.state === "blocked" && g.until ? [g.until] : []))
        .sort()[0];
      return { name: c.name, state, reasons, next: state === "waiting" ? next : undefined };
    });
    if (!this.fancy) {
      for (const l of lines) {
        const text = `${l.name.padEnd(width)}  ${l.state}${l.reasons.length ? `: ${l.reasons.join("; ")}` : ""}`;
        if (this.last.get(l.name) === text) continue;
        this.last.set(l.name, text);
        print(text);
      }
      return;
    }
    this.frame = (this.frame + 1) % SPINNER.length;
    const columns = process.stdout.columns || 100;
    const rendered = lines.map((l) => {
      const icon = SETTLED[l.state] ?? (l.state === "pending" ? "·" : SPINNER[this.frame]!);
      const head = `  ${icon} ${l.name.padEnd(width)}  `;
      const state = l.next ? `${l.state} ${relativeTime(l.next)}` : l.state;
      // A line that wrapped would throw off the redraw, which counts lines: cut it to the terminal.
      const room = columns - 1 - head.length - state.length - 2;
      const text = l.reasons.join("; ");
      const reasons =
        text && room > 1 ? paint("dim", `  ${text.length > room ? `${text.slice(0, room - 1)}…` : text}`) : "";
      return `\x1b[2K${head}${paintState(l.state)}${state.slice(l.state.length)}${reasons}`;
    });
    const up = this.drawn ? `\x1b[${this.drawn}A\r` : "";
    process.stdout.write(`${up}${rendered.join("\n")}\n`);
    this.drawn = rendered.length;
  }

  finish(): void {
    this.drawn = 0;
  }
}
