import { describe, expect, it } from "vitest";
import {
  configDecider,
  durationSeconds,
  fold,
  getConfig,
  getConfigVersion,
  parseDocuments,
  specDocument,
  type ConfigCommand,
  type ConfigObject,
} from "../../core/index.js";
import type { EventOf } from "../../events/index.js";
import { docs, parsed } from "../support/fixtures.js";
import { specFor } from "../support/spec.js";

const spec = specFor(configDecider);
const apply = (...documents: unknown[]): ConfigCommand => ({ type: "ApplyConfig", documents });
/** The event for a parsed object: config events record specs as users write them (see specDocument). */
const applied = <K extends ConfigObject["kind"]>(
  kind: K,
  spec: Extract<ConfigObject, { kind: K }>["spec"],
  version = 1,
): EventOf<"ConfigApplied"> => ({
  type: "ConfigApplied",
  data: { kind, name: spec.name, version, spec: specDocument({ kind, name: spec.name, spec } as ConfigObject) },
});
const existing = [
  applied("runtime", parsed.staging),
  applied("runtime", parsed.production),
  applied("application", parsed.shop),
  applied("service", parsed.api),
];

function issuesOf(command: ConfigCommand, given = existing.slice(0, 0)) {
  return spec(given).when(command).thenError("config.invalid", 400).issues;
}

describe("config documents", () => {
  it("parses the documents users write, filling in defaults", () => {
    const result = parseDocuments([docs.shop]);
    expect(result.ok).toBe(true);
    if (!result.ok) return;
    const app = result.objects[0]!;
    expect(app.kind).toBe("application");
    if (app.kind !== "application") return;
    expect(app.spec.releaseChannels[0]!.runtimes[0]).toEqual({ runtime: "k8s-staging", type: "kubernetes" });
    expect(app.spec.releaseChannels[1]!.preconditions).toEqual([
      { kind: "releaseChannelStable", releaseChannel: "staging", duration: "10m" },
      { kind: "manualApproval", minApprovers: 1 },
    ]);
    expect(app.spec.releaseChannels[0]!.preconditions).toEqual([]);
  });

  it("names the path of every error and says what is wrong", () => {
    const issues = issuesOf(
      apply({
        application: {
          name: "Shop_1",
          releaseChannels: [
            { name: "staging", runtimes: [{ runtime: "k8s-staging", type: "vm" }] },
            {
              name: "production",
              runtimes: [],
              preconditions: [{ releaseChannelStable: { releaseChannel: 7 } }, {}],
              colour: "blue",
            },
          ],
        },
      }),
    );
    expect(issues).toEqual(
      expect.arrayContaining([
        { path: "application.name", message: expect.stringMatching(/^application.name must be lowercase letters/) },
        {
          path: "application.releaseChannels[0].runtimes[0].type",
          message: 'application.releaseChannels[0].runtimes[0].type must be one of "kubernetes", "extension"',
        },
        {
          path: "application.releaseChannels[1].runtimes",
          message: "application.releaseChannels[1].runtimes must list at least one runtime",
        },
        {
          path: "application.releaseChannels[1].preconditions[0].releaseChannelStable.releaseChannel",
          message:
            "application.releaseChannels[1].preconditions[0].releaseChannelStable.releaseChannel must be a string, not number 7",
        },
        {
          path: "application.releaseChannels[1].preconditions[1]",
          message:
            "application.releaseChannels[1].preconditions[1] must define a precondition: one of releaseChannelStable, manualApproval, deployWindow",
        },
        {
          path: "application.releaseChannels[1].colour",
          message: "application.releaseChannels[1].colour is not a known field",
        },
      ]),
    );
    expect(issues).toHaveLength(6);
  });

  it("requires exactly one kind per document and exactly one kind of precondition", () => {
    expect(issuesOf(apply({ runtime: docs.staging.runtime, application: docs.shop.application }))).toEqual([
      {
        path: "",
        message: "the document must define only one of runtime, application, service, not runtime and application",
      },
    ]);
    const app = structuredClone(docs.shop);
    (app.application.releaseChannels[1]!.preconditions as unknown[])[0] = {};
    expect(issuesOf(apply(docs.staging, docs.production, app))).toEqual([
      {
        path: "documents[2].application.releaseChannels[1].preconditions[0]",
        message:
          "documents[2].application.releaseChannels[1].preconditions[0] must define a precondition: one of releaseChannelStable, manualApproval, deployWindow",
      },
    ]);
    (app.application.releaseChannels[1]!.preconditions as unknown[])[0] = {
      manualApproval: {},
      deployWindow: { days: ["mon"], start: "09:00", end: "17:00", timeZone: "UTC" },
    };
    expect(issuesOf(apply(docs.staging, docs.production, app))).toEqual([
      {
        path: "documents[2].application.releaseChannels[1].preconditions[0]",
        message:
          "documents[2].application.releaseChannels[1].preconditions[0] must define only one of releaseChannelStable, manualApproval, deployWindow, not manualApproval and deployWindow",
      },
    ]);
  });

  it("checks names, durations, deploy windows and parameter defaults", () => {
    const long = "a".repeat(64);
    const issues = issuesOf(
      apply({
        application: {
          name: long,
          releaseChannels: [
            {
              name: "staging-",
              runtimes: [{ runtime: "k8s" }],
              preconditions: [
                { releaseChannelStable: { releaseChannel: "x", duration: "ten minutes" } },
                { deployWindow: { days: ["someday"], start: "25:00", end: "17:00", timeZone: "Mars/Olympus" } },
              ],
            },
          ],
        },
      }),
    );
    const paths = issues.map((i) => i.path);
    expect(paths).toEqual(
      expect.arrayContaining([
        "application.name",
        "application.releaseChannels[0].name",
        "application.releaseChannels[0].preconditions[0].releaseChannelStable.duration",
        "application.releaseChannels[0].preconditions[1].deployWindow.days[0]",
        "application.releaseChannels[0].preconditions[1].deployWindow.start",
        "application.releaseChannels[0].preconditions[1].deployWindow.timeZone",
      ]),
    );
    expect(issues.find((i) => i.path === "application.name")?.message).toBe(
      "application.name must be at most 63 characters",
    );
    const svc = issuesOf(
      apply({
        service: {
          ...docs.api.service,
          parameters: [{ name: "image", type: "dockerImage", default: "Not An Image!" }],
        },
      }),
    );
    expect(svc).toContainEqual({
      path: "service.parameters[0].default",
      message: expect.stringContaining("default must be a docker image reference"),
    });
  });

  it("parses durations", () => {
    expect(durationSeconds("30s")).toBe(30);
    expect(durationSeconds("10m")).toBe(600);
    expect(durationSeconds("1h30m")).toBe(5400);
    expect(durationSeconds("1d")).toBe(86400);
  });
});

describe("cross-object validation", () => {
  it("refuses a channel that names a runtime that does not exist", () => {
    expect(issuesOf(apply(docs.staging, docs.shop))).toContainEqual({
      path: "documents[1].application.releaseChannels[1].runtimes[0].runtime",
      message: 'runtime "k8s-production" does not exist',
    });
  });

  it("refuses a runtime whose kind does not match the channel's runtime type", () => {
    const app = structuredClone(docs.shop);
    (app.application.releaseChannels[0]!.runtimes[0] as Record<string, unknown>).type = "extension";
    expect(issuesOf(apply(docs.staging, docs.production, app))).toContainEqual({
      path: "documents[2].application.releaseChannels[0].runtimes[0].type",
      message: 'runtime "k8s-staging" is of type kubernetes, but the channel lists it as extension',
    });
  });

  it("only lets releaseChannelStable name an earlier channel, which rules out cycles", () => {
    const later = structuredClone(docs.shop);
    (later.application.releaseChannels[0] as Record<string, unknown>).preconditions = [
      { releaseChannelStable: { releaseChannel: "production" } },
    ];
    const issues = issuesOf(apply(docs.staging, docs.production, later));
    expect(issues).toContainEqual({
      path: "documents[2].application.releaseChannels[0].preconditions[0].releaseChannelStable.releaseChannel",
      message: 'release channel "production" comes after "staging"; a channel can only wait on an earlier one',
    });
    const self = structuredClone(docs.shop);
    self.application.releaseChannels[1]!.preconditions![0] = {
      releaseChannelStable: { releaseChannel: "production", duration: "1m" },
    };
    expect(issuesOf(apply(docs.staging, docs.production, self))).toContainEqual({
      path: "documents[2].application.releaseChannels[1].preconditions[0].releaseChannelStable.releaseChannel",
      message: 'release channel "production" cannot wait on itself',
    });
    const missing = structuredClone(docs.shop);
    missing.application.releaseChannels[1]!.preconditions![0] = {
      releaseChannelStable: { releaseChannel: "qa", duration: "1m" },
    };
    expect(issuesOf(apply(docs.staging, docs.production, missing))[0]?.message).toBe(
      'release channel "qa" does not exist in application "shop"',
    );
  });

  it("refuses duplicate channel names and unnamed repeated approvals", () => {
    const app = structuredClone(docs.shop);
    app.application.releaseChannels[1]!.name = "staging";
    app.application.releaseChannels[1]!.preconditions = [{ manualApproval: {} }, { manualApproval: {} }] as never;
    const issues = issuesOf(apply(docs.staging, docs.production, app));
    expect(issues).toContainEqual({
      path: "documents[2].application.releaseChannels[1].name",
      message: 'release channel "staging" is defined more than once',
    });
    expect(issues).toContainEqual({
      path: "documents[2].application.releaseChannels[1].preconditions[1].manualApproval.name",
      message: "a channel with several manual approvals must name each of them",
    });
  });

  it("names a repeated approval at its own index, and reports a channel's gate problems in config order", () => {
    const app = structuredClone(docs.shop);
    app.application.releaseChannels[1]!.preconditions = [
      { manualApproval: { name: "cab" } },
      { releaseChannelStable: { releaseChannel: "qa" } },
      { manualApproval: { name: "cab" } },
    ] as never;
    expect(issuesOf(apply(docs.staging, docs.production, app))).toEqual([
      {
        path: "documents[2].application.releaseChannels[1].preconditions[1].releaseChannelStable.releaseChannel",
        message: 'release channel "qa" does not exist in application "shop"',
      },
      {
        path: "documents[2].application.releaseChannels[1].preconditions[2]",
        message: 'manual approval "cab" is defined more than once',
      },
    ]);
  });

  it("checks a service against its application, its parameters and its templates", () => {
    const svc = structuredClone(docs.api);
    svc.service.kubernetesConfig.manifests = [
      "kind: ConfigMap",
      "image: {{.Params.image}}:{{.Params.tag}} {{.Values.x}} {{.Builtins.Cluster}}",
    ];
    // Each problem names the very string that holds the expression.
    expect(issuesOf(apply(svc), existing)).toEqual([
      {
        path: "service.kubernetesConfig.manifests[1]",
        message: expect.stringContaining("unsupported template expression {{.Values.x}}"),
      },
      {
        path: "service.kubernetesConfig.manifests[1]",
        message: "{{.Params.tag}} refers to a parameter that is not declared",
      },
      {
        path: "service.kubernetesConfig.manifests[1]",
        message:
          "{{.Builtins.Cluster}} is not a builtin; there are Application, Service, ReleaseChannel, Release, Runtime",
      },
    ]);
    expect(issuesOf(apply({ service: { ...docs.api.service, application: "bank" } }), existing)).toEqual([
      { path: "service.application", message: 'application "bank" does not exist' },
    ]);
    expect(issuesOf(apply({ service: { ...docs.api.service, runtimeConnection: "vm" } }), existing)).toContainEqual({
      path: "service.runtimeConnection",
      message: 'release channel "staging" has no kubernetes runtime connection named "vm"',
    });
  });

  it("requires every constant a service uses to have a value in every channel", () => {
    const app = structuredClone(docs.shop);
    delete (app.application.releaseChannels[1] as { constants?: unknown }).constants;
    expect(issuesOf(apply(docs.staging, docs.production, app, docs.api))).toEqual([
      {
        path: "documents[3].service.kubernetesConfig.manifests[0]",
        message:
          '{{.Constants.replicas}} has no value in release channel "production" of application "shop", nor in the service\'s constants',
      },
    ]);
    spec([])
      .when(apply(docs.staging, docs.production, app, { service: { ...docs.api.service, constants: { replicas: 1 } } }))
      .then([
        applied("runtime", parsed.staging),
        applied("runtime", parsed.production),
        applied("application", {
          ...parsed.shop,
          releaseChannels: [parsed.shop.releaseChannels[0]!, { ...parsed.shop.releaseChannels[1]!, constants: {} }],
        }),
        applied("service", { ...parsed.api, constants: { replicas: 1 } }),
      ]);
  });

  it("checks an extension's proxy runtime and the parameter values services give it", () => {
    const vmApp = {
      application: {
        name: "infra",
        releaseChannels: [{ name: "staging", runtimes: [{ runtime: "vm-runtime", type: "extension", name: "vm" }] }],
      },
    };
    const badProxy = structuredClone(docs.vm);
    badProxy.runtime.extension.proxyRuntime.runtime = "nowhere";
    expect(issuesOf(apply(badProxy), existing)).toEqual([
      { path: "runtime.extension.proxyRuntime.runtime", message: 'proxy runtime "nowhere" does not exist' },
    ]);

    const svc = {
      service: {
        name: "vms",
        application: "infra",
        runtimeExtension: { parameterValues: [{ name: "size", value: "xl" }] },
        runtimeConnection: "vm",
      },
    };
    expect(issuesOf(apply(docs.vm, vmApp, svc), existing)).toEqual([
      {
        path: "documents[2].service.runtimeExtension.parameterValues[0].name",
        message: 'runtime "vm-runtime" (channel "staging") declares no parameter "size"',
      },
    ]);
    const required = structuredClone(docs.vm);
    (required.runtime.extension.parameters[0] as Record<string, unknown>) = { name: "changeId", required: true };
    const none = { service: { name: "vms", application: "infra", runtimeExtension: {} } };
    expect(issuesOf(apply(required, vmApp, none), existing)).toEqual([
      {
        path: "documents[2].service.runtimeExtension.parameterValues",
        message: 'runtime "vm-runtime" (channel "staging") requires parameter "changeId"',
      },
    ]);
  });

  it("names stored objects by kind and name when a new document breaks them", () => {
    expect(
      issuesOf(apply({ runtime: { name: "k8s-staging", extension: docs.vm.runtime.extension } }), existing),
    ).toEqual(
      expect.arrayContaining([
        {
          path: "application:shop.releaseChannels[0].runtimes[0].type",
          message: 'runtime "k8s-staging" is of type extension, but the channel lists it as kubernetes',
        },
      ]),
    );
  });
});

describe("config decider", () => {
  it("applies new objects as events, each at version 1", () => {
    spec([])
      .when(apply(docs.staging, docs.production, docs.shop, docs.api))
      .then(existing);
  });

  it("records specs as users write them, and reads them back into the model", () => {
    const events = configDecider.decide(apply(docs.staging, docs.production, docs.shop), configDecider.initialState());
    const recorded = events.flatMap((e) =>
      e.type === "ConfigApplied" && e.data.kind === "application" ? [e.data.spec] : [],
    )[0];
    expect(recorded).toMatchObject({
      releaseChannels: [
        { preconditions: [] },
        {
          preconditions: [
            { releaseChannelStable: { releaseChannel: "staging", duration: "10m" } },
            { manualApproval: { minApprovers: 1 } },
          ],
        },
      ],
    });
    // A recorded spec is a document that applies as it is, to the same model.
    expect(parseDocuments([{ application: recorded }])).toEqual({
      ok: true,
      objects: [{ kind: "application", name: "shop", spec: parsed.shop }],
    });
    // Events recorded before preconditions had kinds in the model read the same way.
    const state = fold(configDecider, [
      { type: "ConfigApplied", data: { kind: "application", name: "shop", version: 1, spec: docs.shop.application } },
    ]);
    expect(getConfig(state, "application", "shop")?.spec).toEqual(parsed.shop);
    expect(parsed.shop.releaseChannels[1]!.preconditions[0]).toEqual({
      kind: "releaseChannelStable",
      releaseChannel: "staging",
      duration: "10m",
    });
  });

  it("is a no-op when the same config is applied again, in any key order", () => {
    const reordered = {
      service: {
        kubernetesConfig: docs.api.service.kubernetesConfig,
        parameters: docs.api.service.parameters,
        application: "shop",
        name: "api",
      },
    };
    spec(existing)
      .when(apply(docs.staging, docs.production, docs.shop, reordered))
      .thenNothing();
  });

  it("bumps the version of a changed object only", () => {
    const changed = structuredClone(docs.shop);
    changed.application.releaseChannels[0]!.constants = { replicas: 2 };
    const events = spec(existing).when(apply(docs.staging, changed)).state();
    expect(getConfig(events, "application", "shop")?.version).toBe(2);
    expect(getConfig(events, "runtime", "k8s-staging")?.version).toBe(1);
  });

  it("refuses an empty apply and the same object twice in one apply", () => {
    spec([]).when(apply()).thenError("config.empty", 400);
    expect(issuesOf(apply(docs.staging, docs.staging))).toEqual([
      {
        path: "documents[1].runtime.name",
        message: 'runtime "k8s-staging" is defined twice in one apply (also in documents[0])',
      },
    ]);
  });

  it("deletes an object nothing references", () => {
    spec(existing)
      .when({ type: "DeleteConfig", kind: "service", name: "api" })
      .then([{ type: "ConfigDeleted", data: { kind: "service", name: "api", version: 2 } }]);
    const state = spec([...existing, { type: "ConfigDeleted", data: { kind: "service", name: "api", version: 2 } }])
      .when(apply(docs.api))
      .state();
    // Versions are never reused: releases pin the deleted object's version 1, and the deletion took 2.
    expect(getConfig(state, "service", "api")?.version).toBe(3);
    expect(getConfigVersion(state, "service", "api", 1)?.spec.name).toBe("api");
  });

  it("refuses to delete what is still referenced, or what does not exist", () => {
    const err = spec(existing)
      .when({ type: "DeleteConfig", kind: "runtime", name: "k8s-staging" })
      .thenError("config.in_use", 409);
    expect(err.message).toContain('runtime "k8s-staging" does not exist');
    spec(existing).when({ type: "DeleteConfig", kind: "runtime", name: "nope" }).thenError("config.not_found", 404);
  });
});
