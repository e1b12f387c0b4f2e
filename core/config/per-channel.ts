import type { ParamValue } from "../../events/index.js";
import type { Issue } from "../errors.js";
import { paramTypeProblem, type Application, type ReleaseChannel, type Service } from "./schema.js";

/**
 * Checks a service's `perChannel` against its application and its own parameters: every key names
 * a channel of the application, and every parameter value names a declared parameter (once per
 * channel) and fits its type — the value takes the place of the release's in that channel, so it
 * must be one CI could have sent.
 */
export function perChannelIssues(
  service: Service,
  application: Application,
  at: (path: PropertyKey[]) => string,
): Issue[] {
  const issues: Issue[] = [];
  for (const [channel, overrides] of Object.entries(service.perChannel ?? {})) {
    if (!application.releaseChannels.some((c) => c.name === channel))
      issues.push({
        path: at(["perChannel", channel]),
        message: `release channel "${channel}" does not exist in application "${application.name}"`,
      });
    const seen = new Set<string>();
    (overrides.parameterValues ?? []).forEach((pv, i) => {
      const path = (field: string) => at(["perChannel", channel, "parameterValues", i, field]);
      const declared = service.parameters.find((p) => p.name === pv.name);
      if (!declared) {
        issues.push({ path: path("name"), message: `parameter "${pv.name}" is not declared by the service` });
        return;
      }
      if (seen.has(pv.name))
        issues.push({ path: path("name"), message: `parameter "${pv.name}" is given more than once` });
      seen.add(pv.name);
      const problem = paramTypeProblem(declared.type, pv.value);
      if (problem) issues.push({ path: path("value"), message: `the value of parameter "${pv.name}" ${problem}` });
    });
  }
  return issues;
}

/**
 * The constants a service renders with in one channel: its own are defaults, the channel's say how
 * the channel differs, and the service's per-channel constants say how it differs there.
 */
export function constantsIn(
  service: Service,
  channel: Pick<ReleaseChannel, "name" | "constants">,
): Record<string, string | number | boolean> {
  return { ...service.constants, ...channel.constants, ...service.perChannel?.[channel.name]?.constants };
}

/** The params a service renders with in one channel: the release's, with the channel's values in their place. */
export function paramsIn(
  service: Service,
  channel: string,
  params: Readonly<Record<string, ParamValue>>,
): Record<string, ParamValue> {
  const values = service.perChannel?.[channel]?.parameterValues ?? [];
  return { ...params, ...Object.fromEntries(values.map((pv) => [pv.name, pv.value])) };
}
