/**
 * How the CLI fails. Every failure is one line for people (and, for invalid config, one line per
 * offending field) and an exit code scripts can branch on — never a stack trace.
 */

export const EXIT = {
  ok: 0,
  /** The server refused, could not be reached, or the release did not get where it was asked to. */
  failed: 1,
  /** The command line was wrong: an unknown flag, a bad value, a missing argument. */
  usage: 2,
  /** `watch` or `runtime wait` gave up after `--timeout`. */
  timeout: 3,
} as const;

export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode: number = EXIT.failed,
    /** Further lines after the first: one per offending field of an invalid config. */
    readonly details: readonly string[] = [],
  ) {
    super(message);
    this.name = "CliError";
  }
}

/** A problem+json answer from the API (RFC 9457), as Slipway sends them. */
export type Problem = {
  status: number;
  code?: string;
  detail?: string;
  title?: string;
  errors?: { path: string; message: string }[];
  [member: string]: unknown;
};

/** The server answered, and refused. */
export class ApiError extends CliError {
  constructor(readonly problem: Problem) {
    const code = problem.code ? ` ${problem.code}` : "";
    const detail = problem.detail ?? problem.title ?? "the server refused the request";
    const hint =
      problem.status === 401
        ? ` (the server refused the API key; log in again with "slipway login" or check SLIPWAY_API_KEY)`
        : "";
    super(
      `${problem.status}${code}: ${detail}${hint}`,
      EXIT.failed,
      (problem.errors ?? []).map((e) =>
        e.path && !e.message.includes(e.path) ? `${e.path}: ${e.message}` : e.message,
      ),
    );
    this.name = "ApiError";
  }
}

export class TimeoutError extends CliError {
  constructor(message: string, details: readonly string[] = []) {
    super(message, EXIT.timeout, details);
    this.name = "TimeoutError";
  }
}
