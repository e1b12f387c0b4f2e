import { createRoute, type OpenAPIHono } from "@hono/zod-openapi";
import { bodyLimit } from "hono/body-limit";
import * as z from "zod";
import { getConfig, listConfigs, notFound, specDocument } from "../../core/index.js";
import { applyConfig, deleteConfig, readConfig } from "../services/config.js";
import type { ApiDeps } from "../services/deps.js";
import { withAccess } from "./access.js";
import { readDocuments } from "./documents.js";
import { metadataOf, type ApiEnv } from "./context.js";
import { problem, problemResponses } from "./problem.js";

const MAX_CONFIG_BYTES = 1024 * 1024;

const Kind = z.enum(["runtime", "application", "service"]);
const ObjectRef = z.object({ kind: Kind, name: z.string(), version: z.number().int() });
const StoredObject = ObjectRef.extend({ spec: z.record(z.string(), z.unknown()) });

export function registerConfigRoutes(app: OpenAPIHono<ApiEnv>, deps: ApiDeps): void {
  app.openapi(
    createRoute(
      withAccess(deps, "admin", {
        method: "put",
        path: "/v1/configs",
        summary: "Apply config documents",
        description:
          "Applies runtimes, applications and services (YAML with `---` between documents, or JSON). Validated as a whole; applying an unchanged document changes nothing.",
        middleware: [
          bodyLimit({
            maxSize: MAX_CONFIG_BYTES,
            onError: (c) =>
              problem(c, 413, "request.too_large", `config bodies are limited to ${MAX_CONFIG_BYTES} bytes`),
          }),
        ],
        request: {
          body: {
            required: true,
            content: { "application/yaml": { schema: z.string() }, "application/json": { schema: z.unknown() } },
          },
        },
        responses: {
          200: {
            description: "applied",
            content: {
              "application/json": { schema: z.object({ applied: z.array(ObjectRef), unchanged: z.array(ObjectRef) }) },
            },
          },
          ...problemResponses(400, 401, 403, 409, 413),
        },
      }),
    ),
    async (c) => {
      const documents = readDocuments(await c.req.text(), c.req.header("content-type") ?? "application/yaml");
      return c.json(await applyConfig(deps, documents, metadataOf(c, deps)), 200);
    },
  );

  app.openapi(
    createRoute(
      withAccess(deps, "read", {
        method: "get",
        path: "/v1/configs",
        summary: "List every config object with its version",
        responses: {
          200: {
            description: "the config",
            content: { "application/json": { schema: z.object({ items: z.array(StoredObject) }) } },
          },
          ...problemResponses(401, 403),
        },
      }),
    ),
    async (c) => {
      const state = await readConfig(deps);
      const items = (["runtime", "application", "service"] as const).flatMap((kind) =>
        listConfigs(state, kind).map((o) => ({
          kind: o.kind,
          name: o.name,
          version: o.version,
          spec: specDocument(o),
        })),
      );
      return c.json({ items }, 200);
    },
  );

  const ObjectParams = z.object({ kind: Kind, name: z.string().min(1).max(63) });
  app.openapi(
    createRoute(
      withAccess(deps, "read", {
        method: "get",
        path: "/v1/configs/{kind}/{name}",
        summary: "One config object, with its version",
        request: { params: ObjectParams },
        responses: {
          200: { description: "the object", content: { "application/json": { schema: StoredObject } } },
          ...problemResponses(400, 401, 403, 404),
        },
      }),
    ),
    async (c) => {
      const { kind, name } = c.req.valid("param");
      const found = getConfig(await readConfig(deps), kind, name);
      if (!found) throw notFound("config.not_found", `${kind} "${name}" does not exist`);
      return c.json({ kind: found.kind, name: found.name, version: found.version, spec: specDocument(found) }, 200);
    },
  );

  app.openapi(
    createRoute(
      withAccess(deps, "admin", {
        method: "delete",
        path: "/v1/configs/{kind}/{name}",
        summary: "Delete a config object nothing references",
        request: { params: ObjectParams },
        responses: {
          200: { description: "deleted", content: { "application/json": { schema: ObjectRef } } },
          ...problemResponses(400, 401, 403, 404, 409),
        },
      }),
    ),
    async (c) => {
      const { kind, name } = c.req.valid("param");
      return c.json(await deleteConfig(deps, kind, name, metadataOf(c, deps)), 200);
    },
  );
}
