import type { HealthCheck } from "../adapters/health.js";

export type ComponentHealth = { ok: boolean; detail?: string };

/** Runs every check at once; a check passes unless it throws, and may return a detail line. */
export async function checkHealth(
  checks: Record<string, HealthCheck>,
): Promise<{ ok: boolean; components: Record<string, ComponentHealth> }> {
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
  return { ok: entries.every(([, h]) => h.ok), components: Object.fromEntries(entries) };
}
