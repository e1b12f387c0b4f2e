import { readFileSync } from "node:fs";

/** The CLI ships with the server it talks to: one version, the package's. */
export const CLI_VERSION = (
  JSON.parse(readFileSync(new URL("../package.json", import.meta.url), "utf8")) as { version: string }
).version;
