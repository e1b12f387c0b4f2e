import { LogFormatter, LogItem, Logger as PowertoolsLogger } from "@aws-lambda-powertools/logger";
import type { LogAttributes, UnformattedAttributes } from "@aws-lambda-powertools/logger/types";

/**
 * The one logger of every handler, on AWS and locally: Powertools for AWS Lambda's Logger (levels
 * from LOG_LEVEL and from Lambda's own log-level controls) behind the small interface the services
 * use. It prints JSON lines, or — under `npm start` — lines a person reads. Every line is redacted
 * as it is printed, so a credential a caller hands in (a header, an error quoting a URL) never
 * reaches the output.
 */

export const LOG_LEVELS = ["debug", "info", "warn", "error", "silent"] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];
export const LOG_FORMATS = ["human", "json"] as const;
export type LogFormat = (typeof LOG_FORMATS)[number];

/**
 * What ties a line to the rest of the story: the request, the correlation id every event of it
 * carries on (a webhook's request id, through the stream consumers, to the dispatch), and the
 * release, instruction, runtime or agent connection it is about. Anything else is a detail.
 */
export type LogKeys = {
  /** Which part of Slipway speaks: api, reactor, projector, scheduler, agents, local. */
  component?: string;
  requestId?: string;
  correlationId?: string;
  eventId?: string;
  releaseId?: string;
  instructionId?: string;
  runtime?: string;
  application?: string;
  channel?: string;
  service?: string;
  connectionId?: string;
  /** An Error is printed with its stack; anything else as it is. */
  error?: unknown;
  [detail: string]: unknown;
};

export interface Logger {
  debug(message: string, keys?: LogKeys): void;
  info(message: string, keys?: LogKeys): void;
  warn(message: string, keys?: LogKeys): void;
  error(message: string, keys?: LogKeys): void;
  /** A logger that adds `keys` to every line it prints. */
  child(keys: LogKeys): Logger;
}

export type LoggerOptions = {
  /** Without one, Powertools reads LOG_LEVEL (or POWERTOOLS_LOG_LEVEL; Lambda's log-level control wins); info by default. */
  level?: LogLevel;
  format?: LogFormat;
  /** Values to keep out of the output besides the credential patterns: the secrets this process holds. */
  secrets?: readonly (string | undefined)[];
  /** Where lines go; standard output by default. */
  write?: (line: string) => void;
  keys?: LogKeys;
};

/** Prints nothing: for code run without a logger (tests, tools). */
export const silentLogger: Logger = {
  debug: () => undefined,
  info: () => undefined,
  warn: () => undefined,
  error: () => undefined,
  child: () => silentLogger,
};

export function createLogger(options: LoggerOptions = {}): Logger {
  const write = options.write ?? ((line: string) => void process.stdout.write(`${line}\n`));
  const redact = redactor(options.secrets ?? []);
  const render = options.format === "human" ? humanLine : (entry: LogAttributes) => JSON.stringify(entry);
  const base = powertools(options.level ?? levelFromEnvironment(), (entry) =>
    write(render(redact(entry) as LogAttributes)),
  );
  return new KeyedLogger(base, options.keys ?? {});
}

// Keys travel as one attribute: Powertools reserves `service`, which is a Slipway service here.
const KEYS = "slipwayKeys";

class KeyedLogger implements Logger {
  constructor(
    private readonly base: PowertoolsLogger,
    private readonly keys: LogKeys,
  ) {}

  debug(message: string, keys?: LogKeys): void {
    this.base.debug(message, ...this.extra(keys));
  }
  info(message: string, keys?: LogKeys): void {
    this.base.info(message, ...this.extra(keys));
  }
  warn(message: string, keys?: LogKeys): void {
    this.base.warn(message, ...this.extra(keys));
  }
  error(message: string, keys?: LogKeys): void {
    this.base.error(message, ...this.extra(keys));
  }
  child(keys: LogKeys): Logger {
    return new KeyedLogger(this.base, { ...this.keys, ...keys });
  }

  private extra(keys: LogKeys | undefined): [LogAttributes] {
    const { error, ...rest } = { ...this.keys, ...keys };
    return [{ [KEYS]: rest, ...(error === undefined ? {} : { error }) }];
  }
}

/** Lines as Powertools shapes them (level, message, timestamp), with Slipway's keys at the top level. */
class SlipwayFormatter extends LogFormatter {
  formatAttributes(attributes: UnformattedAttributes, additional: LogAttributes): LogItem {
    const { [KEYS]: keys, error } = additional;
    return new LogItem({
      attributes: {
        level: attributes.logLevel,
        timestamp: this.formatTimestamp(attributes.timestamp),
        message: attributes.message,
        ...(keys as LogKeys | undefined),
        ...(error instanceof Error ? { error: this.formatError(error) } : error === undefined ? {} : { error }),
        ...(attributes.xRayTraceId ? { xrayTraceId: attributes.xRayTraceId } : {}),
      },
    });
  }
}

/**
 * LOG_LEVEL (or POWERTOOLS_LOG_LEVEL) in any case: Powertools itself takes only upper case from the
 * environment, and would silently print everything at info for `LOG_LEVEL=warn`.
 */
function levelFromEnvironment(): LogLevel | undefined {
  const given = (process.env.POWERTOOLS_LOG_LEVEL || process.env.LOG_LEVEL)?.toLowerCase();
  return LOG_LEVELS.find((l) => l === given);
}

function powertools(level: LogLevel | undefined, print: (entry: LogAttributes) => void): PowertoolsLogger {
  // Declared here so that `print` is in scope even for lines Powertools prints from its constructor.
  class Printing extends PowertoolsLogger {
    protected override printLog(_level: number, log: LogItem): void {
      log.prepareForPrint();
      print(log.getAttributes());
    }
  }
  return new Printing({
    serviceName: "slipway",
    logFormatter: new SlipwayFormatter(),
    ...(level ? { logLevel: level.toUpperCase() as Uppercase<LogLevel> } : {}),
  });
}

// ── redaction ─────────────────────────────────────────────────────────────────────────────

/** Keys whose values are credentials, whatever they hold (compared without `-` and `_`). */
const SECRET_KEY = /(authorization|cookie|password|secret|token|signature|apikey|webhookurl|privatekey)\d*$/i;

/** Credentials recognisable by their shape: Slipway's API keys and agent tokens, bearer headers, signatures, Slack webhooks. */
const CREDENTIALS: [RegExp, string][] = [
  [/\bslwa?_[A-Za-z0-9_-]{8,}/g, "[redacted]"],
  [/\bBearer\s+[^\s"',;]+/gi, "Bearer [redacted]"],
  [/\b(sha256|v0)=[a-fA-F0-9]{64}\b/g, "$1=[redacted]"],
  [/https:\/\/hooks\.slack\.com\/[^\s"'<>]*/g, "https://hooks.slack.com/[redacted]"],
];

export function redactor(secrets: readonly (string | undefined)[]): (value: unknown) => unknown {
  // Short values would blank out ordinary words; every real secret here is long.
  const known = [...new Set(secrets.filter((s): s is string => !!s && s.length >= 8))];
  const text = (s: string): string => {
    let out = s;
    for (const secret of known) if (out.includes(secret)) out = out.split(secret).join("[redacted]");
    for (const [pattern, replacement] of CREDENTIALS) out = out.replace(pattern, replacement);
    return out;
  };
  const walk = (value: unknown, depth: number, seen: WeakSet<object>): unknown => {
    if (typeof value === "string") return text(value);
    if (typeof value === "bigint") return value.toString();
    if (value === null || typeof value !== "object") return value;
    if (value instanceof Date) return value.toISOString();
    if (ArrayBuffer.isView(value)) return `[${value.byteLength} bytes]`;
    if (seen.has(value) || depth > 8) return "[…]";
    seen.add(value);
    if (Array.isArray(value)) return value.map((v) => walk(v, depth + 1, seen));
    return Object.fromEntries(
      Object.entries(value).map(([k, v]) => [
        k,
        SECRET_KEY.test(k.replace(/[-_]/g, "")) ? "[redacted]" : walk(v, depth + 1, seen),
      ]),
    );
  };
  return (value) => walk(value, 0, new WeakSet());
}

// ── lines for people ──────────────────────────────────────────────────────────────────────

/** Keys a person does not need on the line: they are in the JSON, and the message says the rest. */
const UNSHOWN = new Set(["level", "timestamp", "message", "component", "eventId", "causationId", "actor", "event"]);
const LABELS: Record<string, string> = {
  requestId: "req",
  correlationId: "corr",
  releaseId: "release",
  instructionId: "instruction",
  connectionId: "conn",
};
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/**
 * `HH:MM:SS.mmm  component  message  key=value …`: the time on this machine, who speaks, what
 * happened, and the keys the message does not already say (ids shortened; the JSON has them whole).
 * Warnings and errors say so; an error's stack follows, indented.
 */
export function humanLine(entry: LogAttributes): string {
  const at = new Date(textOf(entry.timestamp));
  const two = (n: number) => String(n).padStart(2, "0");
  const time = `${two(at.getHours())}:${two(at.getMinutes())}:${two(at.getSeconds())}.${String(at.getMilliseconds()).padStart(3, "0")}`;
  const message = textOf(entry.message);
  const level = textOf(entry.level) || "INFO";
  const error = entry.error as { name?: unknown; message?: unknown; stack?: unknown } | string | undefined;
  const said = new Set<string>();
  const keys = Object.entries(entry)
    .filter(([k, v]) => !UNSHOWN.has(k) && k !== "error" && v !== undefined && !message.includes(textOf(v)))
    // An agent's correlation id is its connection id: once is enough.
    .filter(([, v]) => !said.has(shown(v)) && said.add(shown(v)))
    .map(([k, v]) => `${LABELS[k] ?? k}=${shown(v)}`);
  if (typeof error === "string") keys.push(`error=${shown(error)}`);
  else if (error) keys.push(`error=${shown(`${textOf(error.name) || "Error"}: ${textOf(error.message)}`)}`);
  const line = [
    time,
    (textOf(entry.component) || "slipway").padEnd(9),
    `${level === "INFO" ? "" : `${level} `}${message}`,
    ...(keys.length ? [keys.join(" ")] : []),
  ].join("  ");
  const stack = typeof error === "object" && typeof error.stack === "string" && level === "ERROR" ? error.stack : "";
  return stack ? `${line}\n${stack.replace(/^/gm, "    ")}` : line;
}

function shown(value: unknown): string {
  if (typeof value === "string") {
    const short = UUID.test(value) ? value.slice(0, 8) : value;
    return /[\s"=]/.test(short) || short === "" ? JSON.stringify(short) : short;
  }
  return textOf(value);
}

/** A value as text: strings as they are, other scalars as written, objects as JSON. */
function textOf(value: unknown): string {
  if (value === undefined || value === null) return "";
  if (typeof value === "string") return value;
  if (typeof value === "object") return JSON.stringify(value);
  if (typeof value === "number" || typeof value === "boolean" || typeof value === "bigint") return String(value);
  return typeof value === "symbol" ? value.toString() : "[function]";
}
