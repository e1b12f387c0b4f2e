import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { CLI_VERSION } from "../../cli/version.js";
import { SLIPWAY_VERSION } from "../../core/index.js";

describe("the version", () => {
  it("is the package's, in the server (a constant, so a Lambda bundle carries it) and in the CLI", () => {
    const { version } = JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8")) as {
      version: string;
    };
    expect(SLIPWAY_VERSION).toBe(version);
    expect(CLI_VERSION).toBe(version);
  });
});
