import { describe, expect, it } from "vitest";
import { references, render, renderDeep, type TemplateContext } from "../../core/index.js";

const context: TemplateContext = {
  Params: { image: "registry/api:1.4.2", evil: "{{.Constants.secret}}", port: 8080 },
  Constants: { replicas: 3, secret: "s3cr3t" },
  Builtins: { ReleaseChannel: "production", Application: "shop" },
};

describe("templating", () => {
  it("substitutes params, constants and builtins, with or without spaces", () => {
    const r = render(
      "image: {{.Params.image}} x{{ .Constants.replicas }} in {{.Builtins.ReleaseChannel}}:{{.Params.port}}",
      context,
      "m",
    );
    expect(r).toEqual({ ok: true, value: "image: registry/api:1.4.2 x3 in production:8080" });
  });

  it("never reads a substituted value again as a template", () => {
    expect(render("{{.Params.evil}}", context, "m")).toEqual({ ok: true, value: "{{.Constants.secret}}" });
  });

  it("names every missing value, with the path it came from", () => {
    const r = render(
      "{{.Params.tag}} {{.Constants.zone}} {{.Builtins.Nope}}",
      context,
      "service.kubernetesConfig.manifests[0]",
    );
    expect(r).toEqual({
      ok: false,
      issues: [
        {
          path: "service.kubernetesConfig.manifests[0]",
          message: '{{.Params.tag}} refers to parameter "tag", which has no value',
        },
        {
          path: "service.kubernetesConfig.manifests[0]",
          message: '{{.Constants.zone}} refers to constant "zone", which has no value',
        },
        {
          path: "service.kubernetesConfig.manifests[0]",
          message: '{{.Builtins.Nope}} refers to builtin "Nope", which has no value',
        },
      ],
    });
  });

  it("refuses expressions it does not understand instead of passing them through", () => {
    const r = render("{{ .Values.image }} {{ range .Params }}", context, "m");
    expect(r.ok).toBe(false);
    if (!r.ok)
      expect(r.issues.map((i) => i.message)).toEqual([
        expect.stringContaining("unsupported template expression {{ .Values.image }}"),
        expect.stringContaining("{{ range .Params }}"),
      ]);
  });

  it("writes literal braces through a string expression", () => {
    expect(render('{{"{{"}} not a template }}', context, "m")).toEqual({ ok: true, value: "{{ not a template }}" });
  });

  it("does not treat inherited object properties as values", () => {
    expect(render("{{.Params.constructor}}", context, "m").ok).toBe(false);
  });

  it("renders every string inside objects and lists, leaving keys and other values alone", () => {
    const r = renderDeep(
      { spec: { replicas: 2, image: "{{.Params.image}}", args: ["--env={{.Builtins.ReleaseChannel}}"] } },
      context,
      "m",
    );
    expect(r).toEqual({
      ok: true,
      value: { spec: { replicas: 2, image: "registry/api:1.4.2", args: ["--env=production"] } },
    });
    const bad = renderDeep({ a: ["{{.Params.nope}}"] }, context, "m");
    expect(bad).toEqual({
      ok: false,
      issues: [{ path: "m.a[0]", message: expect.stringContaining('parameter "nope"') }],
    });
  });

  it("lists the references a template makes", () => {
    expect(references("{{.Params.a}}-{{.Constants.b}}{{bad}}")).toEqual({
      refs: [
        { scope: "Params", name: "a" },
        { scope: "Constants", name: "b" },
      ],
      errors: [expect.stringContaining("{{bad}}")],
    });
  });
});
