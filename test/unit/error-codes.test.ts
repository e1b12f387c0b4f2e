import { readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { conflict, ERROR_CODES, invalid, type ErrorCode } from "../../core/index.js";
import { withErrorTable } from "../../infra/tools/generate-error-docs.js";

const root = join(import.meta.dirname, "../..");

function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? sources(path) : path.endsWith(".ts") ? [path] : [];
  });
}

describe("error codes: one list, the docs and the server agree", () => {
  it("docs/http-api.md shows the table generated from core/error-codes.ts (npm run docs:errors)", () => {
    const doc = readFileSync(join(root, "docs/http-api.md"), "utf8");
    expect(withErrorTable(doc)).toBe(doc);
  });

  it("lists no code the server never answers with", () => {
    const code = [...sources(join(root, "core")), ...sources(join(root, "functions"))]
      .filter((f) => !f.endsWith("error-codes.ts"))
      .map((f) => readFileSync(f, "utf8"))
      .join("\n");
    const unused = (Object.keys(ERROR_CODES) as ErrorCode[]).filter((c) => !code.includes(`"${c}"`));
    expect(unused).toEqual([]);
  });

  it("answers each code with its listed status", () => {
    expect(invalid("config.too_deep", "x").status).toBe(ERROR_CODES["config.too_deep"].status);
    expect(conflict("stream.conflict", "x").status).toBe(409);
  });
});
