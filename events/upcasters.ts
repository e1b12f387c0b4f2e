import * as z from "zod";
import type { EventType } from "./catalog.js";

/**
 * An upcaster lifts an event's data from schema version `from` to `from + 1`. Stored events are
 * never rewritten: every read of an old event goes through the chain up to the current version.
 */
export type Upcaster = { type: EventType; from: number; up: (data: unknown) => unknown };

/**
 * ReleaseCreated v1 (the first webhook format) carried params as a list of `{name, value}` pairs and
 * the commit as a top-level string; v2 keeps params as a map and groups commit, branch and url
 * under `source`.
 */
const ReleaseCreatedV1 = z.object({
  releaseId: z.string(),
  application: z.string(),
  service: z.string(),
  params: z.array(z.object({ name: z.string(), value: z.union([z.string(), z.number()]) })),
  commit: z.string().optional(),
  channels: z.array(z.string()),
  configVersions: z.object({ application: z.number(), service: z.number() }),
});

export const upcasters: Upcaster[] = [
  {
    type: "ReleaseCreated",
    from: 1,
    up: (data) => {
      const { params, commit, ...rest } = ReleaseCreatedV1.parse(data);
      return {
        ...rest,
        params: Object.fromEntries(params.map((p) => [p.name, p.value])),
        source: commit === undefined ? {} : { commit },
      };
    },
  },
];

export function upcast(type: EventType, schemaVersion: number, data: unknown, target: number): unknown {
  let version = schemaVersion;
  let current = data;
  while (version < target) {
    const step = upcasters.find((u) => u.type === type && u.from === version);
    if (!step) throw new UnknownSchemaVersionError(type, version);
    current = step.up(current);
    version += 1;
  }
  return current;
}

export class UnknownSchemaVersionError extends Error {
  constructor(
    readonly eventType: string,
    readonly schemaVersion: number,
  ) {
    super(`no upcaster for ${eventType} at schema version ${schemaVersion}`);
    this.name = "UnknownSchemaVersionError";
  }
}
