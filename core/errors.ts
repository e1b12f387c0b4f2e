import { ERROR_CODES, type CodeWithStatus, type ErrorCode } from "./error-codes.js";

/**
 * Every refusal in the domain is a DomainError: a machine-readable code (`release.not_found`), a
 * human sentence, an HTTP status the API answers with, and — for invalid input — one issue per
 * offending field, each naming its path.
 */
export type Issue = { path: string; message: string };

export const statusOf = {
  invalid: 400,
  unauthorized: 401,
  forbidden: 403,
  not_found: 404,
  timeout: 408,
  conflict: 409,
  too_large: 413,
} as const;
export type ErrorKind = keyof typeof statusOf;

export class DomainError extends Error {
  readonly status: number;
  constructor(
    readonly kind: ErrorKind,
    readonly code: ErrorCode,
    message: string,
    readonly issues: Issue[] = [],
    /** Further machine-readable facts about the refusal, answered as members of the problem. */
    readonly extensions: Readonly<Record<string, string>> = {},
  ) {
    super(message);
    this.name = "DomainError";
    this.status = ERROR_CODES[code].status;
  }
}

export const invalid = (code: CodeWithStatus<400>, message: string, issues: Issue[] = []) =>
  new DomainError("invalid", code, message, issues);
export const notFound = (code: CodeWithStatus<404>, message: string) => new DomainError("not_found", code, message);
export const conflict = (code: CodeWithStatus<409>, message: string) => new DomainError("conflict", code, message);
export const unauthorized = (code: CodeWithStatus<401>, message: string) =>
  new DomainError("unauthorized", code, message);
export const timedOut = (code: CodeWithStatus<408>, message: string) => new DomainError("timeout", code, message);
export const forbidden = (code: CodeWithStatus<403>, message: string) => new DomainError("forbidden", code, message);

/** Formats a path the way users read it in their config: `a.b[1].c`. */
export function formatPath(path: readonly PropertyKey[]): string {
  let out = "";
  for (const part of path) {
    if (typeof part === "number") out += `[${part}]`;
    else out += out === "" ? String(part) : `.${String(part)}`;
  }
  return out;
}
