import * as z from "zod";
import { applicationGateFields, Precondition } from "../gates/registry.js";
import { exactlyOne, Name, notReserved } from "./fields.js";

export { Duration, durationSeconds, Name, NAME_PATTERN, notReserved, RESERVED_NAMES, Weekday } from "./fields.js";
export { Precondition };

/**
 * The config files users write: runtimes, applications (with ordered release channels) and
 * services. Each file holds one document with one top-level key naming its kind.
 */

/** Parameter and constant names are referenced from templates as `{{.Params.name}}`. */
export const IDENTIFIER_PATTERN = /^[A-Za-z_][A-Za-z0-9_]*$/;
const Identifier = z
  .string()
  .max(63, { error: "must be at most 63 characters" })
  .regex(IDENTIFIER_PATTERN, { error: "must be letters, digits and '_', not starting with a digit" })
  .refine(notReserved, { error: "is a reserved name (a property every JavaScript object has); choose another" });

/** A docker image reference: [registry[:port]/]repository[:tag][@sha256:digest]. */
export const IMAGE_PATTERN =
  /^(?:[a-zA-Z0-9.-]+(?::[0-9]+)?\/)?[a-z0-9]+(?:[._-]+[a-z0-9]+)*(?:\/[a-z0-9]+(?:[._-]+[a-z0-9]+)*)*(?::[\w][\w.-]{0,127})?(?:@sha256:[a-f0-9]{64})?$/;

export const ParamType = z.enum(["dockerImage", "string", "number"]);
export type ParamType = z.infer<typeof ParamType>;
const Scalar = z.union([z.string(), z.number()]);

/** Whether a value fits a parameter type; returns the reason when it does not. */
export function paramTypeProblem(type: ParamType, value: unknown): string | undefined {
  switch (type) {
    case "number":
      return typeof value === "number" && Number.isFinite(value) ? undefined : "must be a number";
    case "string":
      return typeof value === "string" ? undefined : "must be a string";
    case "dockerImage":
      if (typeof value !== "string") return "must be a docker image reference (a string)";
      return value.length <= 512 && IMAGE_PATTERN.test(value)
        ? undefined
        : "must be a docker image reference such as registry.example.com/team/api:1.4.2";
  }
}

export const Parameter = z
  .strictObject({
    name: Identifier,
    description: z.string().max(1024).optional(),
    type: ParamType.default("string"),
    required: z.boolean().default(false),
    default: Scalar.optional(),
  })
  .superRefine((p, ctx) => {
    if (p.default === undefined) return;
    const problem = paramTypeProblem(p.type, p.default);
    if (problem) ctx.addIssue({ code: "custom", path: ["default"], message: `default ${problem}` });
  });
export type Parameter = z.infer<typeof Parameter>;

const Constants = z.record(Identifier, z.union([z.string(), z.number(), z.boolean()]));

/** A Kubernetes manifest: YAML (or JSON) text, or the object itself. Either may hold templates. */
export const Manifest = z.union([z.string().min(1), z.record(z.string(), z.unknown())], {
  error: "must be a manifest: YAML text or an object",
});
export type Manifest = z.infer<typeof Manifest>;

// ── runtime ──────────────────────────────────────────────────────────────────────────────

const K8S_NAMESPACE = /^[a-z0-9]([a-z0-9-]*[a-z0-9])?$/;

export const ExtensionApply = z
  .strictObject({
    taskConfig: z
      .strictObject({
        program: z.strictObject({
          cmd: z.array(z.string().min(1)).min(1, { error: "must name the program to run" }),
          env: z.record(z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/), z.string()).optional(),
        }),
        image: z.string().refine((s) => IMAGE_PATTERN.test(s), { error: "must be a docker image reference" }),
      })
      .optional(),
    kubernetesConfig: z
      .strictObject({ manifests: z.array(Manifest).min(1, { error: "must hold the Job manifest" }) })
      .optional(),
  })
  .superRefine(exactlyOne(["taskConfig", "kubernetesConfig"], "how to apply"));

export const Runtime = z
  .strictObject({
    name: Name,
    description: z.string().max(1024).optional(),
    kubernetes: z
      .strictObject({
        /** The namespaces its services deploy to: the agent's namespaced RBAC profile has a Role in each. */
        namespaces: z
          .array(z.string().max(63).regex(K8S_NAMESPACE, { error: "must be a Kubernetes namespace name" }))
          .max(100)
          .optional(),
        /**
         * Who keeps the agent current: `managed` (the default) — Slipway asks an outdated agent to
         * upgrade itself (the `upgrade` message); `external` — the operator does (GitOps, Helm…).
         * Absent means managed; left out of stored specs so existing runtimes do not change.
         */
        management: z.enum(["managed", "external"], { error: "must be managed or external" }).optional(),
      })
      .optional(),
    extension: z
      .strictObject({
        proxyRuntime: z.strictObject({
          runtime: Name,
          namespace: z
            .string()
            .max(63)
            .regex(K8S_NAMESPACE, { error: "must be a Kubernetes namespace name" })
            .optional(),
        }),
        apply: ExtensionApply,
        parameters: z.array(Parameter).default([]),
      })
      .optional(),
  })
  .superRefine(exactlyOne(["kubernetes", "extension"], "the kind of runtime"));
export type Runtime = z.infer<typeof Runtime>;
export type RuntimeType = "kubernetes" | "extension";
export const runtimeType = (r: Runtime): RuntimeType => (r.extension ? "extension" : "kubernetes");

// ── application ──────────────────────────────────────────────────────────────────────────

export const ChannelRuntime = z.strictObject({
  runtime: Name,
  type: z.enum(["kubernetes", "extension"]).default("kubernetes"),
  /** The runtime connection name services select with `runtimeConnection`. */
  name: Name.optional(),
});
export type ChannelRuntime = z.infer<typeof ChannelRuntime>;

export const ReleaseChannel = z.strictObject({
  name: Name,
  /**
   * Keep a release that is soaking here for a later channel (a gate downstream with a soak, such
   * as releaseChannelStable) from being displaced by a newer one until its soak is over; the newer
   * release waits.
   */
  protectSoak: z.boolean().optional(),
  runtimes: z.array(ChannelRuntime).min(1, { error: "must list at least one runtime" }),
  // A prefault (an input value, parsed) rather than a default (an output value): preconditions are
  // transformed on the way in, so only a prefault shows in the JSON Schema of what users write.
  preconditions: z.array(Precondition).prefault([]),
  constants: Constants.default({}),
});
export type ReleaseChannel = z.infer<typeof ReleaseChannel>;

/**
 * Where an application's notifications go. A webhook URL is a credential (whoever holds Slack's
 * can post to the channel): it is checked here, and no log line or error ever repeats it.
 */
export const SlackWebhookUrl = z
  .string()
  .max(2048, { error: "must be at most 2048 characters" })
  .refine(isWebhookUrl, { error: "must be an https URL (http only for localhost), such as Slack's incoming webhook" });

function isWebhookUrl(value: string): boolean {
  try {
    const url = new URL(value);
    const local = ["localhost", "127.0.0.1", "[::1]"].includes(url.hostname);
    return url.protocol === "https:" || (url.protocol === "http:" && local);
  } catch {
    return false;
  }
}

/** What happened to a release that an application's notifications can tell of (core/notifications.ts). */
export const OUTCOMES = ["deployed", "converged", "failed", "rolledBack", "markedBad"] as const;
export const Outcome = z.enum(OUTCOMES);
export type Outcome = z.infer<typeof Outcome>;

/** The outcomes a target is told of; all of them when the list is left out. */
const OutcomeList = z
  .array(Outcome)
  .min(1, { error: "must list at least one outcome (leave it out for all of them)" })
  .max(OUTCOMES.length);

export const Notifications = z.strictObject({
  /** Approval requests, and the outcomes in `events`, go to this Slack incoming webhook. */
  slack: z
    .strictObject({
      webhookUrl: SlackWebhookUrl,
      /** A channel to post to instead of the webhook's own, for webhooks that allow it: `#deploys`. */
      channel: z
        .string()
        .max(80)
        .regex(/^#?[A-Za-z0-9._-]+$/, { error: "must be a Slack channel such as #deploys" })
        .optional(),
      events: OutcomeList.optional(),
    })
    .optional(),
  /**
   * Generic outbound webhooks: a JSON POST per outcome, signed with HMAC-SHA256 and a timestamp
   * under the key kept as secret `secretName` (PUT /v1/secrets/{name}).
   */
  webhooks: z
    .array(
      z.strictObject({
        url: SlackWebhookUrl,
        events: OutcomeList.optional(),
        secretName: Name,
      }),
    )
    .max(10, { error: "must list at most 10 webhooks" })
    .optional(),
});
export type Notifications = z.infer<typeof Notifications>;

export const Application = z.strictObject({
  name: Name,
  description: z.string().max(1024).optional(),
  /** Where approval requests and outcomes of this application go; approval requests without it to SLIPWAY_SLACK_WEBHOOK_URL. */
  notifications: Notifications.optional(),
  releaseChannels: z
    .array(ReleaseChannel)
    .min(1, { error: "must list at least one release channel" })
    .max(20, { error: "must list at most 20 release channels" }),
  /** Gates the application lists itself, for the channels they name: `freezes`. */
  ...applicationGateFields,
});
export type Application = z.infer<typeof Application>;

// ── service ──────────────────────────────────────────────────────────────────────────────

/**
 * How a service differs in one release channel: values for its own parameters in place of the
 * release's (`{{.Params.x}}`), and constants that override the channel's and the service's.
 */
export const ChannelOverrides = z.strictObject({
  parameterValues: z.array(z.strictObject({ name: Identifier, value: Scalar })).optional(),
  constants: Constants.optional(),
});
export type ChannelOverrides = z.infer<typeof ChannelOverrides>;

export const Service = z
  .strictObject({
    name: Name,
    application: Name,
    description: z.string().max(1024).optional(),
    parameters: z.array(Parameter).default([]),
    constants: Constants.default({}),
    kubernetesConfig: z
      .strictObject({ manifests: z.array(Manifest).min(1, { error: "must hold at least one manifest" }) })
      .optional(),
    runtimeExtension: z
      .strictObject({
        parameterValues: z.array(z.strictObject({ name: Identifier, value: Scalar })).default([]),
      })
      .optional(),
    runtimeConnection: Name.optional(),
    /** Per release channel, by name. */
    perChannel: z.record(Name, ChannelOverrides).optional(),
  })
  .superRefine(exactlyOne(["kubernetesConfig", "runtimeExtension"], "what to deploy"));
export type Service = z.infer<typeof Service>;

// ── documents ────────────────────────────────────────────────────────────────────────────

/** One config file: a single top-level key naming the kind of object it defines. */
export const ConfigDocument = z
  .strictObject({
    runtime: Runtime.optional(),
    application: Application.optional(),
    service: Service.optional(),
  })
  .superRefine(exactlyOne(["runtime", "application", "service"], "one object"));
export type ConfigDocument = z.infer<typeof ConfigDocument>;

export type ConfigObject =
  | { kind: "runtime"; name: string; spec: Runtime }
  | { kind: "application"; name: string; spec: Application }
  | { kind: "service"; name: string; spec: Service };

export function objectOf(doc: ConfigDocument): ConfigObject {
  if (doc.runtime) return { kind: "runtime", name: doc.runtime.name, spec: doc.runtime };
  if (doc.application) return { kind: "application", name: doc.application.name, spec: doc.application };
  if (doc.service) return { kind: "service", name: doc.service.name, spec: doc.service };
  throw new Error("unreachable: ConfigDocument defines exactly one object");
}

/**
 * A spec as users write it, defaults filled in: the model encoded back into its document shape.
 * Config events record this, as they always have, and it is what users reading their config back
 * should see — a document they can apply again — however the model's shape moves on.
 */
export function specDocument(object: ConfigObject): Record<string, unknown> {
  switch (object.kind) {
    case "runtime":
      return z.encode(Runtime, object.spec);
    case "application":
      return z.encode(Application, object.spec);
    case "service":
      return z.encode(Service, object.spec);
  }
}

/** JSON Schema for editors (yaml-language-server, VS Code) to complete and check config files. */
export function configJsonSchema(): Record<string, unknown> {
  return {
    ...z.toJSONSchema(ConfigDocument, { io: "input", unrepresentable: "any" }),
    $id: "https://slipway.dev/schemas/config.json",
    title: "Slipway config document",
    description: "One runtime, application or service: exactly one top-level key.",
    minProperties: 1,
    maxProperties: 1,
  };
}
