import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { errorCodeTable } from "../../core/index.js";

/** Rewrites the table of error codes in docs/http-api.md from core/error-codes.ts. */

const START = "<!-- error-codes:start -->";
const END = "<!-- error-codes:end -->";

export function withErrorTable(doc: string): string {
  const start = doc.indexOf(START);
  const end = doc.indexOf(END);
  if (start === -1 || end < start) throw new Error(`docs/http-api.md has no ${START} … ${END} section`);
  return `${doc.slice(0, start + START.length)}\n${errorCodeTable()}\n${doc.slice(end)}`;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const path = join(import.meta.dirname, "../../docs/http-api.md");
  writeFileSync(path, withErrorTable(readFileSync(path, "utf8")));
  console.log(`wrote the error code table in ${path}`);
}
