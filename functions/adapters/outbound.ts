/**
 * Requests Slipway makes to addresses its users configured (Slack's incoming webhooks, outbound
 * webhooks). Such a URL may be a credential, so errors say what went wrong, never where to:
 * fetch's own errors are not passed on, as a cause may quote the URL.
 */

export class OutboundError extends Error {
  constructor(
    message: string,
    /** The status the target answered with; undefined when it could not be reached. */
    readonly status?: number,
  ) {
    super(message);
    this.name = "OutboundError";
  }
}

/** POSTs JSON; resolves with the status of a 2xx answer, rejects with an OutboundError otherwise. */
export async function postJson(
  url: string,
  body: string,
  options: { headers?: Record<string, string>; timeoutMs?: number; what: string },
): Promise<number> {
  let res: Response;
  try {
    res = await fetch(url, {
      method: "POST",
      headers: { "content-type": "application/json", ...options.headers },
      body,
      signal: AbortSignal.timeout(options.timeoutMs ?? 5000),
      redirect: "error",
    });
  } catch (err) {
    throw new OutboundError(`${options.what} could not be reached (${reasonOf(err)})`);
  }
  // The body is not read beyond this: a target's answer is its status.
  await res.body?.cancel().catch(() => undefined);
  if (!res.ok) throw new OutboundError(`${options.what} answered ${res.status}`, res.status);
  return res.status;
}

export function reasonOf(err: unknown): string {
  if (!(err instanceof Error)) return "unknown error";
  if (err.name === "TimeoutError" || err.name === "AbortError") return "timed out";
  const code = (err.cause as { code?: unknown } | undefined)?.code;
  return typeof code === "string" && /^[A-Z_]+$/.test(code) ? code : err.name;
}
