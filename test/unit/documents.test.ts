import { describe, expect, it } from "vitest";
import { Application, DomainError, Name, parseDocuments } from "../../core/index.js";
import { DOCUMENT_LIMITS, readDocuments } from "../../functions/routes/documents.js";
import { refusal } from "../support/spec.js";

/** Config bodies are measured before they are parsed: hostile ones are refused with a code and a place. */

const yaml = (text: string) => readDocuments(text, "application/yaml");
const json = (text: string) => readDocuments(text, "application/json");

describe("config bodies within limits", () => {
  it.each([
    ["a block sequence nested 5,000 deep on one line", "- ".repeat(5000) + "x", "config.too_deep"],
    ["flow sequences opened 30,000 deep", "a: " + "[".repeat(30000), "config.too_deep"],
    ["flow mappings opened 10,000 deep", "{a: ".repeat(10000), "config.too_deep"],
    [
      "mappings indented 100 deep",
      Array.from({ length: 100 }, (_, i) => `${" ".repeat(i)}k${i}:`).join("\n") + " x",
      "config.too_deep",
    ],
    [
      "an alias bomb",
      [
        "a: &a [x,x,x,x,x,x,x,x,x]",
        ...Array.from(
          { length: 12 },
          (_, i) =>
            `b${i}: &b${i} [${Array(9)
              .fill(i ? `*b${i - 1}` : "*a")
              .join(",")}]`,
        ),
      ].join("\n"),
      "config.too_many_aliases",
    ],
    ["an alias to no anchor", "<<: *undefined", "config.unparseable"],
    ["a merge of an undefined alias in a document", "application:\n  <<: *base\n  name: shop", "config.unparseable"],
    ["more documents than allowed", "a: 1\n---\n".repeat(DOCUMENT_LIMITS.documents + 1), "config.too_complex"],
  ])("refuses %s, without recursing into it", (_what, text, code) => {
    const err = refusal(() => yaml(text));
    expect(err.status).toBe(400);
    expect(err.code).toBe(code);
    expect(err.issues[0]?.message).toBeTruthy();
  });

  it("names the line and column where a body nests too deep", () => {
    const err = refusal(() => yaml("ok: 1\nbad: " + "[".repeat(100)));
    expect(err.issues[0]?.message).toMatch(/^line 2, column \d+: the body nests deeper than 64 levels$/);
  });

  it.each([
    ["arrays 100,000 deep", "[".repeat(100_000) + "]".repeat(100_000), "config.too_deep"],
    ["objects 1,000 deep", '{"a":'.repeat(1000) + "1" + "}".repeat(1000), "config.too_deep"],
    ["more values than allowed", `[${"1,".repeat(DOCUMENT_LIMITS.nodes)}1]`, "config.too_complex"],
  ])("refuses JSON %s", (_what, text: string, code) => {
    expect(refusal(() => json(text)).code).toBe(code);
  });

  it("reads what real configs hold: deep manifests, block scalars, anchors, brackets in strings", () => {
    const manifest = [
      "service:",
      "  name: api",
      "  defaults: &defaults",
      "    replicas: 2",
      "  kubernetesConfig:",
      "    manifests:",
      "      - |",
      "        apiVersion: apps/v1",
      "        spec:",
      "          template:",
      "            spec:",
      "              containers:",
      "                - name: api",
      "                  args: ['[[[[[[[[', \"{{{{{{{{{{\"]",
      "                  env:",
      "                    - {name: A, valueFrom: {secretKeyRef: {name: s, key: k}}}",
      "  merged: *defaults",
      "# [[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[ a comment",
      "---",
      "runtime: {name: k8s, type: kubernetes}",
    ].join("\n");
    const docs = yaml(manifest) as Record<string, Record<string, unknown>>[];
    expect(docs).toHaveLength(2);
    expect(docs[0]!.service!.merged).toEqual({ replicas: 2 });
    expect(String((docs[0]!.service!.kubernetesConfig as { manifests: string[] }).manifests[0])).toContain(
      "'[[[[[[[['",
    );
    // 60 levels of JSON are fine; the limit is 64.
    expect(json('{"a":'.repeat(60) + "1" + "}".repeat(60))).toHaveLength(1);
    expect(json(JSON.stringify({ a: "[".repeat(100), b: '\\"[[[' }))).toHaveLength(1);
  });
});

describe("names that every object already answers to", () => {
  it.each(["constructor", "__proto__", "toString", "valueOf", "hasOwnProperty"])("refuses %s as a name", (name) => {
    expect(Name.safeParse(name).success).toBe(false);
  });

  it("refuses them in config, naming the field", () => {
    const parsed = parseDocuments([
      {
        application: {
          name: "shop",
          releaseChannels: [
            { name: "constructor", runtimes: [{ runtime: "k8s" }] },
            {
              name: "production",
              runtimes: [{ runtime: "k8s" }],
              preconditions: [{ manualApproval: { name: "constructor" } }],
              constants: { toString: 1 },
            },
          ],
        },
      },
    ]);
    const paths = parsed.ok ? [] : parsed.issues.map((i) => i.path);
    expect(paths).toEqual(
      expect.arrayContaining([
        expect.stringContaining("releaseChannels[0].name"),
        expect.stringContaining("releaseChannels[1].preconditions[0].manualApproval.name"),
        expect.stringContaining("releaseChannels[1].constants.toString"),
      ]),
    );
    expect(
      Application.safeParse({ name: "valueof", releaseChannels: [{ name: "a", runtimes: [{ runtime: "k" }] }] })
        .success,
    ).toBe(true);
  });
});

it("refusals are DomainErrors", () => {
  expect(refusal(() => yaml("- ".repeat(100) + "x"))).toBeInstanceOf(DomainError);
});
