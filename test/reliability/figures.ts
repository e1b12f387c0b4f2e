import { appendFileSync } from "node:fs";

/**
 * The reliability suite's figures: each part records what it did, and the suite prints them all
 * as its last lines (test/reliability/global-setup.ts).
 */
export type Figures = Record<string, number>;

export function record(part: string, figures: Figures): void {
  const path = process.env.SLIPWAY_RELIABILITY_FIGURES;
  if (path) appendFileSync(path, `${JSON.stringify({ part, figures })}\n`);
}

/** How much to do: `RELIABILITY=long` for the documented long run, else the short run CI makes. */
export const LONG = process.env.RELIABILITY === "long";
export const scale = <T>(short: T, long: T): T => (LONG ? long : short);
