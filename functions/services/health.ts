import { SLIPWAY_VERSION } from "../../core/index.js";
import type { HealthCheck } from "../adapters/health.js";

export type ComponentHealth = { ok: boolean; detail?: string };

/** What anyone may learn: whether Slipway is well, and which version answers. */
export type PublicHealth = { status: "ok" | "degraded"; version: string };

/** What a `read` caller learns besides: each component and its detail (table names, URLs, ARNs). */
export type HealthReport = PublicHealth & { components: Record<string, ComponentHealth> };

/** Runs every check at once; a check passes unless it throws, and may return a detail line. */
export async function checkHealth(checks: Record<string, HealthCheck>): Promise<HealthReport> {
  const entries = await Promise.all(
    Object.entries(checks).map(async ([name, check]): Promise<[string, ComponentHealth]> => {
      try {
        const detail = await check();
        return [name, detail ? { ok: true, detail } : { ok: true }];
      } catch (err) {
        return [name, { ok: false, detail: err instanceof Error ? err.message : String(err) }];
      }
    }),
  );
  return {
    status: entries.every(([, h]) => h.ok) ? "ok" : "degraded",
    version: SLIPWAY_VERSION,
    components: Object.fromEntries(entries),
  };
}

/** The report without its details: the components name internal resources, so only callers with `read` see them. */
export function publicHealth({ status, version }: HealthReport): PublicHealth {
  return { status, version };
}
