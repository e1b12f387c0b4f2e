import { createLogger, type Logger, type LoggerOptions } from "../../functions/adapters/logger.js";

/** A line the logger printed, parsed back from its JSON. */
export type LoggedLine = { level: string; message: string; [key: string]: unknown };

/** The real logger, at debug, printing JSON lines into memory: what a test's code logged, as printed. */
export function capturedLogs(options: Omit<LoggerOptions, "write" | "format"> = {}): {
  logger: Logger;
  lines: string[];
  entries: () => LoggedLine[];
} {
  const lines: string[] = [];
  const logger = createLogger({ level: "debug", ...options, format: "json", write: (line) => lines.push(line) });
  return { logger, lines, entries: () => lines.map((l) => JSON.parse(l) as LoggedLine) };
}
