import { describe, expect, it } from "vitest";
import { Application, renderInstructions, Service, type Runtime } from "../../core/index.js";
import { IMAGE, parsed } from "../support/fixtures.js";
import { refusal } from "../support/spec.js";

const runtimes = new Map<string, Runtime>([
  ["k8s-staging", parsed.staging],
  ["k8s-production", parsed.production],
  ["vm-runtime", parsed.vm],
]);

describe("rendering instructions", () => {
  it("renders a service's manifests with its params and the channel's constants", () => {
    const [staging] = renderInstructions({
      application: parsed.shop,
      channel: "staging",
      service: parsed.api,
      runtimes,
      releaseId: "r1",
      params: { image: IMAGE },
    });
    const [production] = renderInstructions({
      application: parsed.shop,
      channel: "production",
      service: parsed.api,
      runtimes,
      releaseId: "r1",
      params: { image: IMAGE },
    });
    expect(staging?.runtime).toBe("k8s-staging");
    expect(staging?.payload.kind === "kubernetes" && staging.payload.manifests[0]).toContain(`image: "${IMAGE}"`);
    expect(staging?.payload.kind === "kubernetes" && staging.payload.manifests[0]).toContain("replicas: 1");
    expect(production?.payload.kind === "kubernetes" && production.payload.manifests[0]).toContain("replicas: 3");
  });

  it("renders object manifests to JSON, with builtins", () => {
    const service = Service.parse({
      name: "web",
      application: "shop",
      parameters: [{ name: "image", type: "dockerImage", required: true }],
      constants: { replicas: 9 },
      kubernetesConfig: {
        manifests: [
          {
            kind: "Deployment",
            metadata: {
              name: "{{.Builtins.Service}}-{{.Builtins.ReleaseChannel}}",
              labels: { release: "{{.Builtins.Release}}" },
            },
            spec: { replicas: "{{.Constants.replicas}}" },
          },
        ],
      },
    });
    const app = Application.parse({
      name: "shop",
      releaseChannels: [{ name: "staging", runtimes: [{ runtime: "k8s-staging" }] }],
    });
    const [out] = renderInstructions({
      application: app,
      channel: "staging",
      service,
      runtimes,
      releaseId: "r9",
      params: { image: IMAGE },
    });
    expect(out?.payload).toEqual({
      kind: "kubernetes",
      manifests: [
        JSON.stringify({
          kind: "Deployment",
          metadata: { name: "web-staging", labels: { release: "r9" } },
          spec: { replicas: "9" },
        }),
      ],
    });
  });

  it("renders an extension's apply command with the parameter values the service gives it", () => {
    const app = Application.parse({
      name: "infra",
      releaseChannels: [{ name: "staging", runtimes: [{ runtime: "vm-runtime", type: "extension", name: "vm" }] }],
    });
    const service = Service.parse({
      name: "vms",
      application: "infra",
      parameters: [{ name: "changeId", required: true }],
      runtimeExtension: { parameterValues: [{ name: "changeId", value: "chg-{{.Params.changeId}}" }] },
      runtimeConnection: "vm",
    });
    const [out] = renderInstructions({
      application: app,
      channel: "staging",
      service,
      runtimes,
      releaseId: "r1",
      params: { changeId: "42" },
    });
    expect(out).toEqual({
      runtime: "vm-runtime",
      payload: {
        kind: "extensionTask",
        runtime: "k8s-staging",
        image: "registry.example.com/tools/vm-apply:1.0",
        cmd: ["apply-changes", "--change=chg-42", "--channel=staging"],
        env: {},
        params: { changeId: "chg-42" },
      },
    });
    const [defaults] = renderInstructions({
      application: app,
      channel: "staging",
      service: Service.parse({ name: "vms", application: "infra", runtimeExtension: {} }),
      runtimes,
      releaseId: "r1",
      params: {},
    });
    expect(defaults?.payload.kind === "extensionTask" && defaults.payload.cmd[1]).toBe("--change=default-id");
  });

  it("renders an extension's Job manifests", () => {
    const job = {
      ...parsed.vm,
      extension: {
        ...parsed.vm.extension!,
        apply: { kubernetesConfig: { manifests: ["kind: Job\nargs: [{{.Params.changeId}}]"] } },
      },
    } as Runtime;
    const app = Application.parse({
      name: "infra",
      releaseChannels: [{ name: "staging", runtimes: [{ runtime: "vm-job", type: "extension" }] }],
    });
    const [out] = renderInstructions({
      application: app,
      channel: "staging",
      service: Service.parse({
        name: "vms",
        application: "infra",
        runtimeExtension: { parameterValues: [{ name: "changeId", value: 7 }] },
      }),
      runtimes: new Map([["vm-job", job]]),
      releaseId: "r1",
      params: {},
    });
    expect(out?.payload).toEqual({
      kind: "extensionJob",
      runtime: "k8s-staging",
      manifests: ["kind: Job\nargs: [7]"],
      params: { changeId: 7 },
    });
  });

  it("names every value it cannot fill", () => {
    const err = refusal(() =>
      renderInstructions({
        application: parsed.shop,
        channel: "staging",
        service: parsed.api,
        runtimes,
        releaseId: "r1",
        params: {},
      }),
    );
    expect(err.code).toBe("render.failed");
    expect(err.issues).toEqual([
      {
        path: "service.kubernetesConfig.manifests[0]",
        message: '{{.Params.image}} refers to parameter "image", which has no value',
      },
    ]);
    expect(
      refusal(() =>
        renderInstructions({
          application: parsed.shop,
          channel: "qa",
          service: parsed.api,
          runtimes,
          releaseId: "r1",
          params: {},
        }),
      ).code,
    ).toBe("render.unknown_channel");
  });
});
