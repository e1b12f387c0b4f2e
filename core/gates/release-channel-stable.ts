import * as z from "zod";
import { Duration, durationSeconds, Name } from "../config/fields.js";
import { gateKind, type PreconditionOf } from "./gate.js";

/**
 * `releaseChannelStable`: the release has converged in an earlier channel and stayed healthy
 * there for a soak time.
 */

const body = z.strictObject({ releaseChannel: Name, duration: Duration.optional() });
export type ReleaseChannelStable = PreconditionOf<"releaseChannelStable", typeof body>;

export const releaseChannelStable = gateKind({
  kind: "releaseChannelStable",
  body,
  key: (p) => `releaseChannelStable:${p.releaseChannel}`,
  explain: (p) => `${p.releaseChannel} stable${p.duration ? ` for ${p.duration}` : ""}`,

  // A soak is a judgement call: an admin may cut it short for one release (a hotfix), on the record.
  overridable: true,

  evaluate({ releaseChannel, duration }, ctx) {
    const upstream = ctx.upstream[releaseChannel];
    if (upstream?.failed?.releaseId === ctx.releaseId) {
      return {
        state: "blocked",
        reason: `release ${ctx.releaseId} failed in release channel "${releaseChannel}": ${upstream.failed.message}`,
      };
    }
    if (upstream?.releaseId !== ctx.releaseId || !upstream.healthySince) {
      return {
        state: "blocked",
        reason: `release ${ctx.releaseId} has not converged in release channel "${releaseChannel}" yet`,
      };
    }
    const stableAt = Date.parse(upstream.healthySince) + durationSeconds(duration ?? "0s") * 1000;
    if (Date.parse(ctx.now) >= stableAt) return { state: "satisfied" };
    const until = new Date(stableAt).toISOString();
    return {
      state: "blocked",
      reason: `release channel "${releaseChannel}" must stay healthy for ${duration} (since ${upstream.healthySince}); the soak ends at ${until}`,
      until,
    };
  },

  validate(gates, { application, channels, channel }) {
    const here = channels[channel];
    return gates.flatMap(({ precondition: { releaseChannel }, index }) => {
      const upstream = channels.indexOf(releaseChannel);
      const issue = (message: string) => [{ index, field: "releaseChannel", message }];
      if (upstream === -1)
        return issue(`release channel "${releaseChannel}" does not exist in application "${application}"`);
      // Gates may only look upstream: that keeps the channel graph acyclic by construction.
      if (upstream === channel) return issue(`release channel "${here}" cannot wait on itself`);
      if (upstream > channel)
        return issue(
          `release channel "${releaseChannel}" comes after "${here}"; a channel can only wait on an earlier one`,
        );
      return [];
    });
  },

  soak: (p) => ({ channel: p.releaseChannel, seconds: durationSeconds(p.duration ?? "0s") }),
});
