/**
 * Slipway's version, the package's (`package.json`). A constant rather than a read of the file, so
 * a handler bundled for Lambda carries it; `test/unit/version.test.ts` keeps the two equal.
 */
export const SLIPWAY_VERSION = "0.1.0";
