import { createRoute, type OpenAPIHono } from "@hono/zod-openapi";
import { bodyLimit } from "hono/body-limit";
import { parseAllDocuments } from "yaml";
import { z } from "zod";
import { configDecider, getConfig, invalid, listConfigs, notFound, streams, type ConfigKind, type Issue } from "../../core/index.js";
import { handleCommand } from "../adapters/command-handler.js";
import { readConfig } from "../adapters/promoter.js";
import { requireScope } from "./auth.js";
import { metadataOf, type ApiDeps, type ApiEnv } from "./context.js";
import { problem, problemResponses } from "./problem.js";

const MAX_CONFIG_BYTES = 1024 * 1024;

const Kind = z.enum(["runtime", "application", "service"]);
const ObjectRef = z.object({ kind: Kind, name: z.string(), version: z.number().int() });
const StoredObject = ObjectRef.extend({ spec: z.record(z.string(), z.unknown()) });

/**
 * Reads config documents from a request body: YAML (several documents separated by `---`) or
 * JSON (one document, or an array of them). Syntax errors name the document and line.
 */
export function readDocuments(text: string, contentType: string): unknown[] {
  if (/json/i.test(contentType)) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch (err) {
      throw invalid("config.unparseable", `the body is not valid JSON: ${(err as Error).message}`, [{ path: "", message: (err as Error).message }]);
    }
    return Array.isArray(parsed) ? parsed : [parsed];
  }
  const docs = parseAllDocuments(text);
  const list = Array.isArray(docs) ? docs : [];
  const issues: Issue[] = list.flatMap((doc, i) =>
    doc.errors.map((e) => ({ path: list.length > 1 ? `documents[${i}]` : "", message: `line ${e.linePos?.[0].line ?? "?"}, column ${e.linePos?.[0].col ?? "?"}: ${e.message.split("\n")[0]}` })),
  );
  if (issues.length) throw invalid("config.unparseable", `the body is not valid YAML (${issues.length} error(s))`, issues);
  return list.map((d) => d.toJS() as unknown).filter((d) => d !== null && d !== undefined);
}

export function registerConfigRoutes(app: OpenAPIHono<ApiEnv>, deps: ApiDeps): void {

  app.use("/v1/configs", bodyLimit({ maxSize: MAX_CONFIG_BYTES, onError: (c) => problem(c, 413, "request.too_large", `config bodies are limited to ${MAX_CONFIG_BYTES} bytes`) }));
  app.on("PUT", "/v1/configs", requireScope(deps, "admin"));
  app.openapi(
    createRoute({
      method: "put",
      path: "/v1/configs",
      summary: "Apply config documents",
      description: "Applies runtimes, applications and services (YAML with `---` between documents, or JSON). Validated as a whole; applying an unchanged document changes nothing.",
      request: { body: { required: true, content: { "application/yaml": { schema: z.string() }, "application/json": { schema: z.unknown() } } } },
      responses: {
        200: { description: "applied", content: { "application/json": { schema: z.object({ applied: z.array(ObjectRef), unchanged: z.array(ObjectRef) }) } } },
        ...problemResponses(400, 401, 403, 409, 413),
      },
    }),
    async (c) => {
      const documents = readDocuments(await c.req.text(), c.req.header("content-type") ?? "application/yaml");
      const result = await handleCommand(deps.store, configDecider, streams.config(), { type: "ApplyConfig", documents }, metadataOf(c, deps));
      const applied = result.events.flatMap((e) => (e.type === "ConfigApplied" ? [{ kind: e.data.kind, name: e.data.name, version: e.data.version }] : []));
      const appliedKeys = new Set(applied.map((a) => `${a.kind}/${a.name}`));
      const unchanged = Object.values(result.state.objects)
        .filter((o) => !appliedKeys.has(`${o.kind}/${o.name}`) && documents.some((d) => isDocumentFor(d, o.kind, o.name)))
        .map((o) => ({ kind: o.kind, name: o.name, version: o.version }));
      return c.json({ applied, unchanged }, 200);
    },
  );

  app.on("GET", ["/v1/configs", "/v1/configs/*"], requireScope(deps, "read"));
  app.openapi(
    createRoute({
      method: "get",
      path: "/v1/configs",
      summary: "List every config object with its version",
      responses: { 200: { description: "the config", content: { "application/json": { schema: z.object({ items: z.array(StoredObject) }) } } }, ...problemResponses(401, 403) },
    }),
    async (c) => {
      const state = await readConfig(deps);
      const items = (["runtime", "application", "service"] as const).flatMap((kind) => listConfigs(state, kind).map(({ kind: k, name, version, spec }) => ({ kind: k, name, version, spec: spec as Record<string, unknown> })));
      return c.json({ items }, 200);
    },
  );

  const ObjectParams = z.object({ kind: Kind, name: z.string().min(1).max(63) });
  app.openapi(
    createRoute({
      method: "get",
      path: "/v1/configs/{kind}/{name}",
      summary: "One config object, with its version",
      request: { params: ObjectParams },
      responses: { 200: { description: "the object", content: { "application/json": { schema: StoredObject } } }, ...problemResponses(400, 401, 403, 404) },
    }),
    async (c) => {
      const { kind, name } = c.req.valid("param");
      const found = getConfig(await readConfig(deps), kind, name);
      if (!found) throw notFound("config.not_found", `${kind} "${name}" does not exist`);
      return c.json({ kind: found.kind, name: found.name, version: found.version, spec: found.spec as Record<string, unknown> }, 200);
    },
  );

  app.on("DELETE", "/v1/configs/*", requireScope(deps, "admin"));
  app.openapi(
    createRoute({
      method: "delete",
      path: "/v1/configs/{kind}/{name}",
      summary: "Delete a config object nothing references",
      request: { params: ObjectParams },
      responses: { 200: { description: "deleted", content: { "application/json": { schema: ObjectRef } } }, ...problemResponses(400, 401, 403, 404, 409) },
    }),
    async (c) => {
      const { kind, name } = c.req.valid("param");
      const result = await handleCommand(deps.store, configDecider, streams.config(), { type: "DeleteConfig", kind, name }, metadataOf(c, deps));
      const deleted = result.events.find((e) => e.type === "ConfigDeleted");
      return c.json({ kind, name, version: deleted?.type === "ConfigDeleted" ? deleted.data.version : 0 }, 200);
    },
  );
}

function isDocumentFor(doc: unknown, kind: ConfigKind, name: string): boolean {
  const body = (doc as Record<string, { name?: unknown } | undefined> | null)?.[kind];
  return body?.name === name;
}
