import { z } from "zod";

/**
 * The config files users write: runtimes, applications (with ordered release channels) and
 * services. Each file holds one document with one top-level key naming its kind.
 */

export const NAME_PATTERN = /^[a-z]([a-z0-9-]*[a-z0-9])?$/;
export const Name = z
  .string({ error: "must be a string" })
  .max(63, { error: "must be at most 63 characters" })
  .regex(NAME_PATTERN, {
    error: "must be lowercase letters, digits and '-', start with a letter and not end with '-'",
  });

/** Parameter and constant names are referenced from templates as `{{.Params.name}}`. */
export const IDENTIFIER_PATTERN = /^[A-Za-z_][A-Za-z0-9_]*$/;
const Identifier = z
  .string()
  .max(63, { error: "must be at most 63 characters" })
  .regex(IDENTIFIER_PATTERN, { error: "must be letters, digits and '_', not starting with a digit" });

const DURATION_PATTERN = /^(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$/;
export const Duration = z
  .string()
  .regex(DURATION_PATTERN, { error: "must be a duration such as 30s, 10m or 1h30m" })
  .refine((s) => s !== "", { error: "must not be empty" });

/** Seconds in a duration such as `1h30m`. */
export function durationSeconds(duration: string): number {
  const m = DURATION_PATTERN.exec(duration);
  if (!m) throw new Error(`not a duration: ${duration}`);
  const [, d = "0", h = "0", min = "0", s = "0"] = m;
  return ((Number(d) * 24 + Number(h)) * 60 + Number(min)) * 60 + Number(s);
}

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

function exactlyOne<T extends object>(keys: (keyof T & string)[], what: string) {
  return (value: T, ctx: z.RefinementCtx) => {
    const present = keys.filter((k) => value[k] !== undefined);
    if (present.length !== 1) {
      ctx.addIssue({
        code: "custom",
        path: [],
        message:
          present.length === 0
            ? `must define ${what}: one of ${keys.join(", ")}`
            : `must define only one of ${keys.join(", ")}, not ${present.join(" and ")}`,
      });
    }
  };
}

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
    kubernetes: z.strictObject({}).optional(),
    extension: z
      .strictObject({
        proxyRuntime: z.strictObject({
          runtime: Name,
          namespace: z.string().max(63).regex(K8S_NAMESPACE, { error: "must be a Kubernetes namespace name" }).optional(),
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

export const Weekday = z.enum(["mon", "tue", "wed", "thu", "fri", "sat", "sun"]);
export type Weekday = z.infer<typeof Weekday>;
const ClockTime = z.string().regex(/^([01]\d|2[0-3]):[0-5]\d$/, { error: "must be a time of day as HH:MM" });

function isTimeZone(tz: string): boolean {
  try {
    new Intl.DateTimeFormat("en-US", { timeZone: tz });
    return true;
  } catch {
    return false;
  }
}

export const Precondition = z
  .strictObject({
    releaseChannelStable: z
      .strictObject({ releaseChannel: Name, duration: Duration.optional() })
      .optional(),
    manualApproval: z
      .strictObject({
        name: Name.optional(),
        minApprovers: z.number().int().min(1).max(10).default(1),
      })
      .optional(),
    deployWindow: z
      .strictObject({
        days: z.array(Weekday).min(1, { error: "must name at least one day" }),
        start: ClockTime,
        end: ClockTime,
        timeZone: z.string().refine(isTimeZone, { error: "must be an IANA time zone such as Europe/Berlin" }),
      })
      .refine((w) => w.start !== w.end, { error: "start and end must differ", path: ["end"] })
      .optional(),
  })
  .superRefine(exactlyOne(["releaseChannelStable", "manualApproval", "deployWindow"], "a precondition"));
export type Precondition = z.infer<typeof Precondition>;

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
   * Keep a release that is soaking here for a later channel (releaseChannelStable) from being
   * displaced by a newer one until its soak is over; the newer release waits.
   */
  protectSoak: z.boolean().optional(),
  runtimes: z.array(ChannelRuntime).min(1, { error: "must list at least one runtime" }),
  preconditions: z.array(Precondition).default([]),
  constants: Constants.default({}),
});
export type ReleaseChannel = z.infer<typeof ReleaseChannel>;

export const Application = z.strictObject({
  name: Name,
  description: z.string().max(1024).optional(),
  releaseChannels: z
    .array(ReleaseChannel)
    .min(1, { error: "must list at least one release channel" })
    .max(20, { error: "must list at most 20 release channels" }),
});
export type Application = z.infer<typeof Application>;

// ── service ──────────────────────────────────────────────────────────────────────────────

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
