import { describe, expect, it } from "vitest";
import {
  fold,
  getConfig,
  planConfigRelease,
  releaseDecider,
  runtimeVersions,
  servicesAffectedBy,
  type ConfigState,
  type ReleaseState,
} from "../../core/index.js";
import type { DomainEvent } from "../../events/index.js";
import { configAfter, docs, IMAGE } from "../support/fixtures.js";
import { specFor } from "../support/spec.js";

const base = [docs.staging, docs.production, docs.vm, docs.shop, docs.api];
const v1 = configAfter(base);
const releaseOn = (config: ConfigState, releaseId = "r1"): DomainEvent[] =>
  releaseDecider.decide(
    {
      type: "CreateRelease",
      releaseId,
      application: getConfig(config, "application", "shop")!,
      service: getConfig(config, "service", "api")!,
      params: { image: IMAGE },
      source: { commit: "abc123" },
      runtimeVersions: runtimeVersions(config),
    },
    releaseDecider.initialState(),
  );
const r1 = fold(releaseDecider, releaseOn(v1));
const changed = (doc: object) => configAfter(base, [doc]);
const plan = (config: ConfigState, newest: ReleaseState = r1) =>
  planConfigRelease({ config, newest, releaseId: "r2", author: "alice" });

const newManifest = {
  service: { ...docs.api.service, kubernetesConfig: { manifests: ["kind: Deployment\nimage: {{.Params.image}}"] } },
};
const newConstants = {
  application: {
    ...docs.shop.application,
    releaseChannels: [
      docs.shop.application.releaseChannels[0],
      { ...docs.shop.application.releaseChannels[1], constants: { replicas: 5 } },
    ],
  },
};

describe("config releases", () => {
  it("are made when a change alters what a channel renders: the newest release's params with the config now", () => {
    const config = changed(newManifest);
    expect(plan(config)).toEqual({
      action: "create",
      command: {
        type: "CreateRelease",
        releaseId: "r2",
        application: getConfig(config, "application", "shop"),
        service: getConfig(config, "service", "api"),
        params: { image: IMAGE },
        source: { commit: "abc123" },
        author: "alice",
        runtimeVersions: { "k8s-staging": 1, "k8s-production": 1, "vm-runtime": 1 },
        config: { basedOn: "r1" },
      },
    });
    expect(plan(changed(newConstants)).action).toBe("create");
  });

  it("are releases like any other, pinned to the config now, saying why they exist and what they carry", () => {
    const config = changed(newManifest);
    const made = plan(config);
    if (made.action !== "create") throw new Error("expected a config release");
    specFor(releaseDecider)([])
      .when(made.command)
      .then([
        {
          type: "ReleaseCreated",
          data: {
            releaseId: "r2",
            application: "shop",
            service: "api",
            params: { image: IMAGE },
            source: { commit: "abc123" },
            author: "alice",
            channels: ["staging", "production"],
            configVersions: { application: 1, service: 2 },
            cause: "config",
            basedOn: "r1",
          },
        },
        { type: "PromotionStarted", data: { releaseId: "r2", channel: "staging" } },
      ]);
    // Once the config release exists, the change needs no further one.
    const r2 = fold(releaseDecider, releaseDecider.decide(made.command, releaseDecider.initialState()));
    expect(r2).toMatchObject({ cause: "config", basedOn: "r1" });
    expect(plan(config, r2)).toEqual({ action: "none", reason: "release r2 already renders as the config does now" });
  });

  it("carry the build's params through a chain: a config release of a config release is based on the build", () => {
    const config = changed(newManifest);
    const first = plan(config);
    if (first.action !== "create") throw new Error("expected a config release");
    const r2 = fold(releaseDecider, releaseDecider.decide(first.command, releaseDecider.initialState()));
    const again = planConfigRelease({ config: changed(newConstants), newest: r2, releaseId: "r3", author: "bob" });
    expect(again).toMatchObject({ action: "create", command: { config: { basedOn: "r1" } } });
  });

  it("are not made for a change that deploys nothing different: a gate, a description", () => {
    const gates = {
      application: {
        ...docs.shop.application,
        releaseChannels: [
          docs.shop.application.releaseChannels[0],
          { ...docs.shop.application.releaseChannels[1], preconditions: [] },
        ],
      },
    };
    expect(plan(changed(gates))).toEqual({
      action: "none",
      reason: "release r1 already renders as the config does now",
    });
    expect(plan(changed({ service: { ...docs.api.service, description: "the shop's API" } })).action).toBe("none");
  });

  it("are not made for a service without a release, or whose newest release was abandoned", () => {
    expect(plan(changed(newManifest), { status: "none" })).toEqual({
      action: "none",
      reason: "the service has no release yet",
    });
    const abandoned = fold(releaseDecider, [...releaseOn(v1), { type: "ReleaseAbandoned", data: { releaseId: "r1" } }]);
    expect(plan(changed(newManifest), abandoned)).toMatchObject({
      action: "none",
      reason: expect.stringContaining("abandoned"),
    });
  });

  it("are refused by the release decider when the newest release's params no longer fit the service", () => {
    const stricter = {
      service: {
        ...docs.api.service,
        parameters: [...docs.api.service.parameters, { name: "region", required: true }],
        kubernetesConfig: { manifests: ["image: {{.Params.image}}\nregion: {{.Params.region}}"] },
      },
    };
    const made = plan(changed(stricter));
    if (made.action !== "create") throw new Error("expected a config release");
    const err = specFor(releaseDecider)([]).when(made.command).thenError("release.invalid_params", 400);
    expect(err.issues).toEqual([{ path: "params.region", message: "params.region is required" }]);
  });

  it("are made for the services a change can reach: the service, its application's, an extension's", () => {
    const withVm = {
      application: {
        ...docs.shop.application,
        releaseChannels: docs.shop.application.releaseChannels.map((c) => ({
          ...c,
          runtimes: [...c.runtimes, { runtime: "vm-runtime", type: "extension" }],
        })),
      },
    };
    const config = configAfter([...base, withVm, docs.vms].filter((d) => d !== docs.shop));
    const names = (kind: "runtime" | "application" | "service", name: string) =>
      servicesAffectedBy(config, kind, name).map((s) => s.name);
    expect(names("service", "api")).toEqual(["api"]);
    expect(names("application", "shop").sort()).toEqual(["api", "vms"]);
    expect(names("runtime", "vm-runtime")).toEqual(["vms"]);
    expect(names("runtime", "k8s-production")).toEqual(["api"]);

    // A changed extension renders differently for the service that deploys to it.
    const vmRelease = fold(
      releaseDecider,
      releaseDecider.decide(
        {
          type: "CreateRelease",
          releaseId: "r1",
          application: getConfig(config, "application", "shop")!,
          service: getConfig(config, "service", "vms")!,
          params: { changeId: "c-1" },
          runtimeVersions: runtimeVersions(config),
        },
        releaseDecider.initialState(),
      ),
    );
    const vm = docs.vm.runtime;
    const newCommand = {
      runtime: {
        ...vm,
        extension: {
          ...vm.extension,
          apply: { taskConfig: { ...vm.extension.apply.taskConfig, program: { cmd: ["apply-v2"] } } },
        },
      },
    };
    const after = configAfter(
      [...base, withVm, docs.vms].filter((d) => d !== docs.shop),
      [newCommand],
    );
    expect(plan(after, vmRelease)).toMatchObject({ action: "create", command: { config: { basedOn: "r1" } } });
    expect(plan(config, vmRelease).action).toBe("none");
  });
});
