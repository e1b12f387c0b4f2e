import { Option } from "commander";
import { stringify } from "yaml";

/**
 * What the CLI prints. People get aligned tables and colour on a terminal; `NO_COLOR`, `TERM=dumb`
 * or output into a pipe or file get the same text with no escape codes at all. Scripts ask for
 * `-o json` (the API's documented shapes) or `-o yaml`.
 */

export type Format = "table" | "json" | "yaml";
export const outputOption = () =>
  new Option("-o, --output <format>", "how to print the result").choices(["table", "json", "yaml"]).default("table");

/** Whether stdout is a terminal that takes colour and cursor movement. */
export function isFancy(stream: NodeJS.WriteStream = process.stdout): boolean {
  return Boolean(stream.isTTY) && !("NO_COLOR" in process.env) && process.env.TERM !== "dumb";
}

const codes = { red: 31, green: 32, yellow: 33, blue: 34, dim: 2, bold: 1 } as const;
export type Colour = keyof typeof codes;

export function paint(colour: Colour, text: string, fancy = isFancy()): string {
  return fancy ? `\x1b[${codes[colour]}m${text}\x1b[0m` : text;
}

/** The colour a channel state reads in. */
export function stateColour(state: string): Colour | undefined {
  if (["converged", "approved", "connected", "satisfied"].includes(state)) return "green";
  if (["failed", "rolledBack", "bad", "abandoned", "rejected", "blocked", "disconnected"].includes(state)) return "red";
  if (["waiting", "deploying", "pending", "reconnecting"].includes(state)) return "yellow";
  return undefined;
}

export function paintState(state: string, fancy = isFancy()): string {
  const colour = stateColour(state);
  return colour ? paint(colour, state, fancy) : state;
}

const ANSI = new RegExp(`${String.fromCharCode(27)}\\[[0-9;]*[A-Za-z]`, "g");
const visibleLength = (s: string) => s.replace(ANSI, "").length;

/** Columns padded to their widest cell, two spaces apart; the last column is not padded. */
export function table(headers: readonly string[], rows: readonly (readonly string[])[]): string {
  const all = [headers, ...rows];
  const widths = headers.map((_, i) => Math.max(...all.map((r) => visibleLength(r[i] ?? ""))));
  return all
    .map((row) =>
      row
        .map((cell, i) => (i === row.length - 1 ? cell : cell + " ".repeat(widths[i]! - visibleLength(cell))))
        .join("  ")
        .trimEnd(),
    )
    .join("\n");
}

/** `key: value` lines with the values aligned, for one object. */
export function fields(pairs: readonly (readonly [string, string | undefined])[]): string {
  const shown = pairs.filter((p): p is readonly [string, string] => p[1] !== undefined && p[1] !== "");
  const width = Math.max(...shown.map(([k]) => k.length)) + 1;
  return shown.map(([k, v]) => `${`${k}:`.padEnd(width)} ${v}`).join("\n");
}

/** Prints `value` as JSON or YAML; false for `table`, which the command prints its own way. */
export function printData(format: Format, value: unknown): boolean {
  if (format === "json") process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
  else if (format === "yaml") process.stdout.write(stringify(value));
  else return false;
  return true;
}

export function print(text: string): void {
  process.stdout.write(text.endsWith("\n") ? text : `${text}\n`);
}

/** Notes for people that are not the result: to stderr, so `> agent.yaml` holds only the result. */
export function note(text: string): void {
  process.stderr.write(`${text}\n`);
}

/** `image=…, replicas=3` */
export function formatParams(params: Record<string, unknown>): string {
  return Object.entries(params)
    .map(([k, v]) => `${k}=${typeof v === "string" ? v : JSON.stringify(v)}`)
    .join(", ");
}
