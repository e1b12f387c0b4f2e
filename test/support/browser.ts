import { accessSync, constants } from "node:fs";
import { chromium, type Browser } from "playwright-core";

/**
 * The browser the end-to-end tests drive: the system's Chromium (Debian's `chromium` package),
 * never one downloaded by Playwright. `SLIPWAY_CHROMIUM` names another executable.
 */

/** Where the tests look for Chromium when SLIPWAY_CHROMIUM is not set. */
export const DEFAULT_CHROMIUM = "/usr/bin/chromium";

/** Flags for a quiet, headless Chromium that reaches for nothing on the network by itself. */
export const CHROMIUM_ARGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];

export type BrowserAvailability =
  | { available: true; executablePath: string }
  /** `required`: on CI (CI is set), where a missing browser fails the tests instead of skipping them. */
  | { available: false; reason: string; required: boolean };

/** Whether a Chromium to drive is installed here, and where. */
export function browserAvailability(env: NodeJS.ProcessEnv = process.env): BrowserAvailability {
  const fromEnv = env.SLIPWAY_CHROMIUM?.trim();
  const executablePath = fromEnv || DEFAULT_CHROMIUM;
  try {
    accessSync(executablePath, constants.X_OK);
    return { available: true, executablePath };
  } catch {
    const where = fromEnv ? `SLIPWAY_CHROMIUM=${fromEnv}` : `${DEFAULT_CHROMIUM} (set SLIPWAY_CHROMIUM to use another)`;
    return {
      available: false,
      required: env.CI !== undefined && env.CI !== "" && env.CI !== "false" && env.CI !== "0",
      reason:
        `the dashboard's browser tests need Chromium, and none is executable at ${where}; ` +
        "install it with `apt-get install chromium`",
    };
  }
}

/**
 * What a test file does when there is no browser: on CI it fails with `reason`, elsewhere it skips
 * with it (a fresh machine without Chromium still passes `npm test`).
 */
export function noBrowser(
  availability: Extract<BrowserAvailability, { available: false }>,
  skip: (note: string) => void,
): void {
  if (availability.required) throw new Error(`CI is set: ${availability.reason}`);
  console.warn(`skipping: ${availability.reason}`);
  skip(availability.reason);
}

/** Launches the system's Chromium, headless; every context it opens starts with a fresh profile. */
export async function launchBrowser(availability = browserAvailability()): Promise<Browser> {
  if (!availability.available) throw new Error(availability.reason);
  return chromium.launch({ executablePath: availability.executablePath, headless: true, args: CHROMIUM_ARGS });
}
