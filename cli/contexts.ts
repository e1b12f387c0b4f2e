import { chmodSync, existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { homedir } from "node:os";
import { dirname, join } from "node:path";
import * as z from "zod";
import { CliError } from "./errors.js";

/**
 * Contexts: named servers with the API key to call them with, kept in the user's config folder in
 * a file only they can read (mode 0600; it holds keys). `SLIPWAY_URL` and `SLIPWAY_API_KEY`
 * override the context's values, so CI needs no file at all.
 */

const Context = z.object({ url: z.string(), apiKey: z.string() });
const ContextFile = z.object({
  current: z.string().optional(),
  contexts: z.record(z.string(), Context).default({}),
});
export type ContextFile = z.infer<typeof ContextFile>;

export const DEFAULT_CONTEXT = "default";

/** `$XDG_CONFIG_HOME/slipway/config.json`, or the platform's own config folder without it. */
export function contextFilePath(env: NodeJS.ProcessEnv = process.env): string {
  const base =
    env.XDG_CONFIG_HOME ||
    (process.platform === "win32"
      ? (env.APPDATA ?? join(homedir(), "AppData", "Roaming"))
      : process.platform === "darwin"
        ? join(homedir(), "Library", "Application Support")
        : join(env.HOME || homedir(), ".config"));
  return join(base, "slipway", "config.json");
}

export function readContexts(path = contextFilePath()): ContextFile {
  if (!existsSync(path)) return { contexts: {} };
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(path, "utf8"));
  } catch (err) {
    throw new CliError(`${path} is not valid JSON (${(err as Error).message}); log in again to rewrite it`);
  }
  const parsed = ContextFile.safeParse(raw);
  if (!parsed.success) throw new CliError(`${path} is not a Slipway context file; log in again to rewrite it`);
  return parsed.data;
}

/** Written to a file of its own first and renamed, so a crash never leaves half a file of keys. */
export function writeContexts(file: ContextFile, path = contextFilePath()): void {
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  const temporary = `${path}.${process.pid}.tmp`;
  writeFileSync(temporary, `${JSON.stringify(file, null, 2)}\n`, { mode: 0o600 });
  chmodSync(temporary, 0o600);
  renameSync(temporary, path);
}

export type Target = { url: string; apiKey?: string; context?: string };

/**
 * The server and key a command talks to: the named context (or the current one), each value
 * overridden by its environment variable.
 */
export function resolveTarget(contextName: string | undefined, env: NodeJS.ProcessEnv = process.env): Target {
  const file = readContexts(contextFilePath(env));
  const name = contextName ?? file.current;
  const context = name ? file.contexts[name] : undefined;
  if (contextName && !context) throw new CliError(`there is no context "${contextName}" (see "slipway context list")`);
  const url = env.SLIPWAY_URL || context?.url;
  if (!url) throw new CliError(`no server to talk to: run "slipway login --url URL --api-key KEY" or set SLIPWAY_URL`);
  const apiKey = env.SLIPWAY_API_KEY || context?.apiKey;
  return { url, ...(apiKey ? { apiKey } : {}), ...(name && context ? { context: name } : {}) };
}
