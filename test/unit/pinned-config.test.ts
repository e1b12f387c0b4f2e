import { describe, expect, it } from "vitest";
import {
  Application,
  channelDecider,
  configDecider,
  fold,
  getConfig,
  getConfigVersion,
  pinnedConfig,
  pinnedInputs,
  planPromotion,
  planRollback,
  releaseDecider,
  runtimeVersions,
  type ConfigState,
  type ReleaseCommand,
} from "../../core/index.js";
import type { DomainEvent } from "../../events/index.js";
import { configAfter, docs, IMAGE, liveInStaging } from "../support/fixtures.js";
import { refusal } from "../support/spec.js";

const withManifest = (image: string) => ({
  service: {
    ...docs.api.service,
    kubernetesConfig: {
      manifests: [`kind: Deployment\nspec:\n  replicas: {{.Constants.replicas}}\n  image: ${image}`],
    },
  },
});
/** Shop deploying to the vm extension too, next to the fixtures' Kubernetes clusters (docs.vms deploys there). */
const extensionApp = {
  application: {
    name: "shop",
    releaseChannels: [
      {
        name: "staging",
        runtimes: [{ runtime: "k8s-staging" }, { runtime: "vm-runtime", type: "extension", name: "vm" }],
        constants: { replicas: 1 },
      },
      {
        name: "production",
        runtimes: [{ runtime: "k8s-production" }, { runtime: "vm-runtime", type: "extension", name: "vm" }],
        constants: { replicas: 3 },
      },
    ],
  },
};
const vmWithCommand = (cmd: string) => ({
  runtime: {
    ...docs.vm.runtime,
    extension: {
      ...docs.vm.runtime.extension,
      apply: {
        taskConfig: { ...docs.vm.runtime.extension.apply.taskConfig, program: { cmd: [cmd, "{{.Params.changeId}}"] } },
      },
    },
  },
});

function create(
  config: ConfigState,
  releaseId: string,
  service = "api",
  params: Record<string, unknown> = { image: IMAGE },
) {
  const command: ReleaseCommand = {
    type: "CreateRelease",
    releaseId,
    application: getConfig(config, "application", "shop")!,
    service: getConfig(config, "service", service)!,
    params,
    runtimeVersions: runtimeVersions(config),
  };
  return releaseDecider.decide(command, releaseDecider.initialState());
}

const base = [docs.staging, docs.production, docs.shop];

describe("config versions", () => {
  it("keeps every version of every object, so a pinned version stays readable after changes and deletes", () => {
    const config = configAfter([...base, withManifest("v1")], [withManifest("v2")]);
    expect(getConfig(config, "service", "api")?.version).toBe(2);
    expect(JSON.stringify(getConfigVersion(config, "service", "api", 1)?.spec.kubernetesConfig)).toContain("image: v1");
    expect(JSON.stringify(getConfigVersion(config, "service", "api", 2)?.spec.kubernetesConfig)).toContain("image: v2");
    expect(getConfigVersion(config, "service", "api", 3)).toBeUndefined();
    const deleted = configDecider
      .decide({ type: "DeleteConfig", kind: "service", name: "api" }, config)
      .reduce(configDecider.evolve, config);
    expect(getConfig(deleted, "service", "api")).toBeUndefined();
    expect(getConfigVersion(deleted, "service", "api", 2)?.version).toBe(2);
  });
});

describe("what a release pins", () => {
  it("records its service's and application's versions, and those of the extension runtimes it deploys to", () => {
    const config = configAfter(
      [docs.staging, docs.production, docs.vm, extensionApp, withManifest("v1"), docs.vms],
      [vmWithCommand("apply-v2")],
    );
    const [api] = create(config, "r1");
    expect(api?.type === "ReleaseCreated" && api.data.configVersions).toEqual({ application: 1, service: 1 });
    const [vm] = create(config, "r2", "vms", {});
    expect(vm?.type === "ReleaseCreated" && vm.data).toMatchObject({
      configVersions: { application: 1, service: 1, runtimes: { "vm-runtime": 2 } },
    });
    expect(vm?.type === "ReleaseCreated" && vm.data).not.toHaveProperty("cause");
    expect(fold(releaseDecider, create(config, "r2", "vms", {}))).toMatchObject({
      cause: "ci",
      configVersions: { runtimes: { "vm-runtime": 2 } },
    });
  });

  it("resolves the pinned specs, reading unpinned runtimes as they are now, and names a version the config lacks", () => {
    const v1 = configAfter([docs.staging, docs.production, docs.vm, extensionApp, withManifest("v1"), docs.vms]);
    const release = fold(releaseDecider, create(v1, "r1", "vms", {}));
    if (release.status === "none") throw new Error("no release");
    const later = configAfter(
      [docs.staging, docs.production, docs.vm, extensionApp, withManifest("v1"), docs.vms],
      [vmWithCommand("apply-v2")],
    );
    const pinned = pinnedConfig(later, release);
    expect(pinned.ok && pinned.runtimes.get("vm-runtime")?.extension?.apply.taskConfig?.program.cmd[0]).toBe(
      "apply-changes",
    );
    expect(pinned.ok && pinned.runtimes.get("k8s-staging")).toBeTruthy();
    expect(pinnedConfig(later, { ...release, configVersions: { application: 1, service: 7 } })).toEqual({
      ok: false,
      problem: 'release r1 renders from service "vms" version 7, which the config does not hold',
    });
  });
});

describe("rendering from the pinned config", () => {
  // r1 was created with manifest v1 and waits at production; then the manifest became v2.
  const v1 = configAfter([...base, withManifest("v1")]);
  const v2 = configAfter([...base, withManifest("v1")], [withManifest("v2")]);
  const r1 = [
    ...create(v1, "r1"),
    { type: "PromotionStarted", data: { releaseId: "r1", channel: "production" } },
  ] as DomainEvent[];
  const release = fold(releaseDecider, r1);
  if (release.status === "none") throw new Error("no release");
  const current = {
    application: getConfig(v2, "application", "shop")!.spec,
    service: getConfig(v2, "service", "api")!.spec,
    runtimes: new Map([...Object.keys(runtimeVersions(v2))].map((n) => [n, getConfig(v2, "runtime", n)!.spec])),
  };
  const staging = fold(channelDecider, liveInStaging("r1"));
  const promotion = (over: object = {}) =>
    planPromotion({
      now: "2026-11-23T10:30:00.000Z",
      ...current,
      pinned: pinnedConfig(v2, release),
      release: fold(releaseDecider, [
        ...r1,
        {
          type: "ApprovalRequested",
          data: { releaseId: "r1", channel: "production", approval: "approval", minApprovers: 1 },
        },
        {
          type: "ApprovalGranted",
          data: { releaseId: "r1", channel: "production", approval: "approval", approver: "alice" },
        },
      ]),
      channel: "production",
      channels: { staging, production: undefined },
      ...over,
    });

  it("deploys the manifest the release was created with once its gates pass, not today's", () => {
    const plan = promotion();
    expect(plan.action).toBe("deploy");
    const manifests = plan.action === "deploy" && plan.instructions?.[0]?.payload;
    expect(manifests).toEqual({ kind: "kubernetes", manifests: [expect.stringContaining("image: v1")] });
  });

  it("reads its gates from the application as it is now", () => {
    const strict = Application.parse({
      ...docs.shop.application,
      releaseChannels: [
        docs.shop.application.releaseChannels[0],
        {
          ...docs.shop.application.releaseChannels[1],
          preconditions: [{ manualApproval: { name: "cab" } }],
        },
      ],
    });
    const plan = promotion({ application: strict });
    expect(plan.action).toBe("wait");
    expect(plan.action === "wait" && plan.gates.map((g) => g.key)).toContain("manualApproval:cab");
  });

  it("waits, saying which version is missing, when the pinned config cannot be found", () => {
    const plan = promotion({
      pinned: { ok: false, problem: 'release r1 renders from service "api" version 9, which the config does not hold' },
    });
    expect(plan).toMatchObject({ action: "wait", renderProblem: expect.stringContaining('service "api" version 9') });
  });

  it("rolls back to a release as it was: its params with the config it pinned", () => {
    const r2 = fold(channelDecider, [...liveInStaging("r1"), ...liveInStaging("r2")]);
    const rollback = (pinned: Parameters<typeof planRollback>[0]["pinned"]) =>
      planRollback({ ...current, channel: "staging", release, channelState: r2, ...(pinned ? { pinned } : {}) });
    expect(rollback(pinnedConfig(v2, release)).instructions[0]?.payload).toEqual({
      kind: "kubernetes",
      manifests: [expect.stringContaining("image: v1")],
    });
    // Without the pin, today's manifest would go out: what pinning prevents.
    expect(JSON.stringify(rollback(undefined).instructions[0]?.payload)).toContain("image: v2");
    const err = refusal(() => rollback({ ok: false, problem: "gone" }));
    expect([err.code, err.status, err.message]).toEqual(["rollback.config_missing", 409, "cannot roll back: gone"]);
  });

  it("shows each channel's rendered inputs from the pinned config", () => {
    const changedConstants = configAfter(
      [...base, withManifest("v1")],
      [
        {
          application: {
            ...docs.shop.application,
            releaseChannels: docs.shop.application.releaseChannels.map((c) => ({ ...c, constants: { replicas: 9 } })),
          },
        },
      ],
    );
    expect(pinnedInputs(changedConstants, release)).toEqual({
      staging: { params: { image: IMAGE }, constants: { replicas: 1 } },
      production: { params: { image: IMAGE }, constants: { replicas: 3 } },
    });
  });
});
