import * as z from "zod";

/**
 * The event catalog: every fact Slipway records, one zod schema per event type, in its current
 * schema version. Older versions are upcast on read (see upcasters.ts); they are never rewritten.
 */

const Name = z.string().min(1).max(63);
const Id = z.string().min(1).max(128);
const Time = z.iso.datetime();
/** A SHA-256 in hex: how keys and tokens are known (they themselves are shown once, never stored). */
const Sha256 = z.string().regex(/^[a-f0-9]{64}$/);
/**
 * Which Kubernetes cluster an agent runs in: the UID of its `kube-system` namespace (stable for the
 * cluster's life, unique across clusters) and the API server's version.
 */
export const ClusterIdentity = z.object({
  id: z
    .string()
    .min(1)
    .max(128)
    .regex(/^[A-Za-z0-9][A-Za-z0-9._:-]*$/, { error: "must be the cluster's kube-system namespace UID" }),
  serverVersion: z.string().min(1).max(64).optional(),
});
export type ClusterIdentity = z.infer<typeof ClusterIdentity>;

export const ConfigKind = z.enum(["runtime", "application", "service"]);
export type ConfigKind = z.infer<typeof ConfigKind>;

export const ParamValue = z.union([z.string(), z.number()]);
export type ParamValue = z.infer<typeof ParamValue>;

export const ReleaseSource = z.object({
  commit: z.string().max(256).optional(),
  branch: z.string().max(256).optional(),
  url: z.string().max(2048).optional(),
  message: z.string().max(4096).optional(),
});
export type ReleaseSource = z.infer<typeof ReleaseSource>;

/** What an agent is told to apply: rendered manifests, or an extension's apply task. */
export const InstructionPayload = z.discriminatedUnion("kind", [
  z.object({
    kind: z.literal("kubernetes"),
    manifests: z.array(z.string()),
  }),
  z.object({
    kind: z.literal("extensionTask"),
    runtime: Name,
    namespace: z.string().optional(),
    image: z.string().optional(),
    cmd: z.array(z.string()).min(1),
    env: z.record(z.string(), z.string()).default({}),
    params: z.record(z.string(), ParamValue),
  }),
  z.object({
    kind: z.literal("extensionJob"),
    runtime: Name,
    namespace: z.string().optional(),
    manifests: z.array(z.string()),
    params: z.record(z.string(), ParamValue),
  }),
]);
export type InstructionPayload = z.infer<typeof InstructionPayload>;

const releaseInChannel = { releaseId: Id, channel: Name };

/**
 * A notification as its delivery records it. `target` says where without the URL (a webhook URL
 * may be a credential): `slack`, or `webhook <origin>`.
 */
const notification = {
  notificationId: z.string().min(1).max(400),
  application: Name,
  releaseId: Id,
  /** Absent for an outcome of the release as a whole (marked bad). */
  channel: Name.optional(),
  outcome: z.string().min(1).max(32),
  target: z.string().min(1).max(300),
};

const definitions = {
  // configuration — stream `config`
  ConfigApplied: {
    schemaVersion: 1,
    data: z.object({
      kind: ConfigKind,
      name: Name,
      /** The object's own version: 1 when created, +1 on every change. */
      version: z.number().int().positive(),
      spec: z.record(z.string(), z.unknown()),
    }),
  },
  ConfigDeleted: {
    schemaVersion: 1,
    data: z.object({ kind: ConfigKind, name: Name, version: z.number().int().positive() }),
  },

  // API keys — stream `apikeys`
  ApiKeyIssued: {
    schemaVersion: 1,
    data: z.object({
      keyId: Id,
      name: z.string().min(1).max(128),
      scopes: z.array(z.enum(["admin", "release", "approve", "read"])).min(1),
      /** SHA-256 of the key; the key itself is shown once and never stored. */
      keyHash: Sha256,
    }),
  },
  ApiKeyRevoked: { schemaVersion: 1, data: z.object({ keyId: Id }) },

  // a runtime and the lease of its agent — stream `runtime#<name>`
  AgentTokenIssued: {
    schemaVersion: 1,
    data: z.object({
      runtime: Name,
      tokenId: Id,
      /** SHA-256 of the token; the token itself is shown once and never stored. */
      tokenHash: Sha256,
      tokenGeneration: z.number().int().positive(),
      /**
       * The repository of the agent image the install YAML runs (tag and digest stripped), for the
       * `upgrade` message; absent on links recorded before it was, which ran `slipway/agent`.
       */
      agentImage: z.string().min(1).max(255).optional(),
      /** The namespace the install YAML runs the agent in, for the commands a rotation prints. */
      agentNamespace: Name.optional(),
    }),
  },
  /**
   * A new agent token, while the previous one is still accepted until `previousTokenValidUntil`
   * (an agent rolling over to the new token keeps the runtime). Unlike linking again, the runtime
   * stays linked, pinned, and its agent keeps its lease.
   */
  AgentTokenRotated: {
    schemaVersion: 1,
    data: z.object({
      runtime: Name,
      tokenId: Id,
      /** SHA-256 of the token; the token itself is shown once and never stored. */
      tokenHash: Sha256,
      tokenGeneration: z.number().int().positive(),
      rotatedAt: Time,
      previousTokenId: Id,
      previousTokenGeneration: z.number().int().positive(),
      previousTokenValidUntil: Time,
    }),
  },
  /**
   * Agent tokens that stop working at once: `all` (every token of the runtime; it must be linked
   * again) or `previous` (only the token a rotation kept, ending its overlap early).
   */
  AgentTokensRevoked: {
    schemaVersion: 1,
    data: z.object({
      runtime: Name,
      scope: z.enum(["all", "previous"]),
      tokens: z
        .array(z.object({ tokenId: Id, tokenGeneration: z.number().int().positive() }))
        .min(1)
        .max(2),
      revokedAt: Time,
    }),
  },
  RuntimeLinked: {
    schemaVersion: 1,
    data: z.object({ runtime: Name, connectionId: Id, agentVersion: z.string() }),
  },
  AgentConnected: {
    schemaVersion: 1,
    data: z.object({
      runtime: Name,
      connectionId: Id,
      leaseGeneration: z.number().int().positive(),
      agentVersion: z.string(),
      /** When $connect granted the lease; absent on leases granted before it was recorded. */
      connectedAt: z.iso.datetime().optional(),
      /** The cluster the agent reported it runs in, if it did. */
      cluster: ClusterIdentity.optional(),
      /**
       * The generation of the agent token the connection authenticated with (the current one, or
       * the previous one during a rotation's overlap); absent on leases granted before it was recorded.
       */
      tokenGeneration: z.number().int().positive().optional(),
    }),
  },
  /** The runtime is pinned to the cluster its first identified agent runs in, until it is linked again. */
  ClusterPinned: {
    schemaVersion: 1,
    data: z.object({ runtime: Name, connectionId: Id, cluster: ClusterIdentity }),
  },
  AgentSuperseded: {
    schemaVersion: 1,
    data: z.object({
      runtime: Name,
      connectionId: Id,
      leaseGeneration: z.number().int().positive(),
      supersededBy: Id,
    }),
  },
  AgentDisconnected: {
    schemaVersion: 1,
    data: z.object({
      runtime: Name,
      connectionId: Id,
      leaseGeneration: z.number().int().positive(),
      reason: z.string(),
    }),
  },

  // a release and its gates — stream `release#<id>`
  ReleaseCreated: {
    schemaVersion: 2,
    data: z.object({
      releaseId: Id,
      application: Name,
      service: Name,
      params: z.record(z.string(), ParamValue),
      source: ReleaseSource.default({}),
      /**
       * Who made the change, as CI tells it: an API key's name or a Slack identity (`slack:U…`),
       * matched against approvers so that authors cannot approve their own release.
       */
      author: z.string().min(1).max(256).optional(),
      /** The channels, in order, as configured when the release was created. */
      channels: z.array(Name).min(1),
      /**
       * The versions of the config objects the release renders from, in every channel and in every
       * rollback to it: its service, its application (channel constants) and the extension
       * runtimes it deploys to. Releases recorded before runtimes were pinned render with the
       * runtimes' current versions.
       */
      configVersions: z.object({
        application: z.number().int().positive(),
        service: z.number().int().positive(),
        runtimes: z.record(Name, z.number().int().positive()).optional(),
      }),
      /** Why the release exists: a CI build (when absent), or a config change carrying an earlier release's params. */
      cause: z.enum(["ci", "config"]).optional(),
      /** For a config release: the release whose params and source it carries. */
      basedOn: Id.optional(),
    }),
  },
  PromotionStarted: { schemaVersion: 1, data: z.object(releaseInChannel) },
  PreconditionSatisfied: {
    schemaVersion: 1,
    /** `note`: why it passes, when that is news — say, an override or a released hold. */
    data: z.object({ ...releaseInChannel, precondition: z.string(), note: z.string().max(2000).optional() }),
  },
  PreconditionBlocked: {
    schemaVersion: 1,
    data: z.object({
      ...releaseInChannel,
      precondition: z.string(),
      reason: z.string(),
      /** When the gate can next change by itself, if it is waiting on time. */
      until: Time.optional(),
    }),
  },
  ApprovalRequested: {
    schemaVersion: 1,
    data: z.object({
      ...releaseInChannel,
      approval: z.string(),
      minApprovers: z.number().int().positive(),
    }),
  },
  ApprovalGranted: {
    schemaVersion: 1,
    /** `comment`: what the approver said (optional, and absent from events recorded before it existed). */
    data: z.object({
      ...releaseInChannel,
      approval: z.string(),
      approver: z.string(),
      comment: z.string().optional(),
    }),
  },
  ApprovalRejected: {
    schemaVersion: 1,
    data: z.object({
      ...releaseInChannel,
      approval: z.string(),
      approver: z.string(),
      comment: z.string().optional(),
    }),
  },
  ReleaseSuperseded: {
    schemaVersion: 1,
    data: z.object({ ...releaseInChannel, supersededBy: Id }),
  },
  ReleaseAbandoned: {
    schemaVersion: 1,
    data: z.object({ releaseId: Id, reason: z.string().optional() }),
  },
  /** An admin lifted one blocked gate (recorded under `gate`) for the release in one channel; it passes from then on. */
  GateOverridden: {
    schemaVersion: 1,
    data: z.object({
      ...releaseInChannel,
      gate: z.string().min(1).max(200),
      reason: z.string().min(1).max(1000),
      by: z.string().min(1).max(256),
    }),
  },
  /** The release must never be promoted again; every pending channel drops it. */
  ReleaseMarkedBad: {
    schemaVersion: 1,
    data: z.object({ releaseId: Id, reason: z.string().min(1).max(1000) }),
  },
  /**
   * An operator asked for the release to go to a channel that holds it back because it was rolled
   * back from it (or from a newer release); its gates still apply. `hold` names the channel's hold
   * it lifts (the service's rollback count there): a later rollback holds the release back again.
   */
  ExplicitPromotionRequested: {
    schemaVersion: 1,
    data: z.object({ ...releaseInChannel, reason: z.string().min(1).max(1000), hold: z.number().int().nonnegative() }),
  },

  // what runs in a release channel — stream `channel#<application>/<channel>`
  InstructionDispatched: {
    schemaVersion: 1,
    data: z.object({
      instructionId: Id,
      ...releaseInChannel,
      application: Name,
      service: Name,
      runtime: Name,
      payload: InstructionPayload,
      rollback: z.boolean().default(false),
      /**
       * How many instructions the release's dispatch to this channel has in all, when they do not
       * fit one append (a channel of more runtimes than a DynamoDB transaction holds items) and are
       * appended in parts. The channel cannot converge before all of them are dispatched.
       */
      instructionCount: z.number().int().positive().optional(),
    }),
  },
  // An agent's progress, in its runtime's delivery stream `delivery#<app>/<channel>/<runtime>`
  // (logs before it kept them in the channel's, without `service`); a failure, in the channel's.
  InstructionAcknowledged: {
    schemaVersion: 1,
    data: z.object({
      instructionId: Id,
      runtime: Name,
      service: Name.optional(),
      connectionId: Id,
      leaseGeneration: z.number().int().positive(),
    }),
  },
  ApplyStarted: {
    schemaVersion: 1,
    data: z.object({ instructionId: Id, runtime: Name, service: Name.optional(), releaseId: Id }),
  },
  ApplySucceeded: {
    schemaVersion: 1,
    data: z.object({
      instructionId: Id,
      runtime: Name,
      service: Name.optional(),
      releaseId: Id,
      message: z.string().optional(),
    }),
  },
  ApplyFailed: {
    schemaVersion: 1,
    data: z.object({ instructionId: Id, runtime: Name, service: Name.optional(), releaseId: Id, message: z.string() }),
  },
  ChannelConverged: {
    schemaVersion: 1,
    /** `convergedAt` starts the soak of releaseChannelStable gates downstream. */
    data: z.object({ ...releaseInChannel, application: Name, service: Name, convergedAt: Time }),
  },
  ReleaseRolledBack: {
    schemaVersion: 1,
    data: z.object({
      application: Name,
      channel: Name,
      service: Name,
      fromReleaseId: Id.optional(),
      toReleaseId: Id,
      reason: z.string().optional(),
    }),
  },
  ChannelPaused: {
    schemaVersion: 1,
    /** `until`: the pause ends by itself then. Pausing a paused channel again replaces its until. */
    data: z.object({ application: Name, channel: Name, reason: z.string().optional(), until: Time.optional() }),
  },
  ChannelResumed: {
    schemaVersion: 1,
    /** `until`: set when the channel resumed by itself, as its pause until then ended. */
    data: z.object({ application: Name, channel: Name, until: Time.optional() }),
  },

  // named secrets — stream `secrets`; the values live in the Secrets table, never in the log
  SecretSet: { schemaVersion: 1, data: z.object({ name: Name }) },
  SecretDeleted: { schemaVersion: 1, data: z.object({ name: Name }) },

  // outcome notifications — stream `notification#<notificationId>`, one per notification and target
  /** A notification reached its target (2xx) after `attempts` tries. */
  NotificationDelivered: {
    schemaVersion: 1,
    data: z.object({ ...notification, attempts: z.number().int().positive(), status: z.number().int() }),
  },
  /** Every try failed: the notification was given up on, and why the last try failed is in `error`. */
  NotificationDeadLettered: {
    schemaVersion: 1,
    data: z.object({ ...notification, attempts: z.number().int().positive(), error: z.string().max(1000) }),
  },
} as const;

type Definitions = typeof definitions;
export type EventType = keyof Definitions;
export const eventTypes = Object.keys(definitions) as EventType[];

export type EventData<T extends EventType> = z.infer<Definitions[T]["data"]>;
/** The input shape of an event's data: defaulted fields may be left out when writing. */
export type EventDataInput<T extends EventType> = z.input<Definitions[T]["data"]>;

export function currentSchemaVersion(type: EventType): number {
  return definitions[type].schemaVersion;
}

export function dataSchema<T extends EventType>(type: T): Definitions[T]["data"] {
  return definitions[type].data;
}

export function isEventType(type: string): type is EventType {
  return Object.hasOwn(definitions, type);
}

/** A domain event: type and data, before it has a place in a stream. */
export type DomainEvent = { [T in EventType]: { type: T; data: EventData<T> } }[EventType];
export type EventOf<T extends EventType> = Extract<DomainEvent, { type: T }>;

/** The discriminated union of every event type, for validating `{type, data}` pairs. */
export const DomainEventSchema = z.discriminatedUnion(
  "type",
  eventTypes.map((type) => z.object({ type: z.literal(type), data: definitions[type].data })) as unknown as [
    z.ZodObject<{ type: z.ZodLiteral<EventType>; data: z.ZodType }>,
  ],
) as unknown as z.ZodType<DomainEvent>;
