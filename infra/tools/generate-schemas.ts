/**
 * Writes the JSON Schemas generated from the zod schemas in core/, for editors to complete config
 * files. `npm run schemas` regenerates them; a test fails when the committed copy is stale.
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { schemaFiles } from "./schemas.js";

for (const [path, schema] of Object.entries(schemaFiles())) {
  const target = fileURLToPath(new URL(`../../${path}`, import.meta.url));
  mkdirSync(dirname(target), { recursive: true });
  writeFileSync(target, `${JSON.stringify(schema, null, 2)}\n`);
  console.log(`wrote ${path}`);
}
