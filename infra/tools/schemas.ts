import { configJsonSchema } from "../../core/index.js";

/** Every generated schema file, by its path in the repository. */
export function schemaFiles(): Record<string, Record<string, unknown>> {
  return { "schemas/config.schema.json": configJsonSchema() };
}
