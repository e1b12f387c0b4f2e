import { Application, configDecider, Runtime, Service, type ConfigState } from "../../core/index.js";
import type { DomainEvent, EventOf } from "../../events/index.js";

/** Config documents as users write them: staging and production on two clusters, plus an extension. */
export const docs = {
  staging: { runtime: { name: "k8s-staging", kubernetes: {} } },
  production: { runtime: { name: "k8s-production", kubernetes: {} } },
  vm: {
    runtime: {
      name: "vm-runtime",
      extension: {
        proxyRuntime: { runtime: "k8s-staging" },
        apply: {
          taskConfig: {
            program: {
              cmd: ["apply-changes", "--change={{.Params.changeId}}", "--channel={{.Builtins.ReleaseChannel}}"],
            },
            image: "registry.example.com/tools/vm-apply:1.0",
          },
        },
        parameters: [{ name: "changeId", type: "string", default: "default-id" }],
      },
    },
  },
  shop: {
    application: {
      name: "shop",
      releaseChannels: [
        { name: "staging", runtimes: [{ runtime: "k8s-staging" }], constants: { replicas: 1 } },
        {
          name: "production",
          runtimes: [{ runtime: "k8s-production" }],
          preconditions: [
            { releaseChannelStable: { releaseChannel: "staging", duration: "10m" } },
            { manualApproval: {} },
          ],
          constants: { replicas: 3 },
        },
      ],
    },
  },
  api: {
    service: {
      name: "api",
      application: "shop",
      parameters: [{ name: "image", type: "dockerImage", required: true }],
      kubernetesConfig: {
        manifests: [
          'apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: api\nspec:\n  replicas: {{.Constants.replicas}}\n  template:\n    spec:\n      containers:\n        - name: api\n          image: "{{.Params.image}}"\n',
        ],
      },
    },
  },
  /** A service of shop that deploys to the vm extension, passing its changeId on. */
  vms: {
    service: {
      name: "vms",
      application: "shop",
      parameters: [{ name: "changeId" }],
      runtimeExtension: { parameterValues: [{ name: "changeId", value: "{{.Params.changeId}}" }] },
    },
  },
};

export const parsed = {
  staging: Runtime.parse(docs.staging.runtime),
  production: Runtime.parse(docs.production.runtime),
  vm: Runtime.parse(docs.vm.runtime),
  shop: Application.parse(docs.shop.application),
  api: Service.parse(docs.api.service),
};

export const IMAGE = "registry.example.com/shop/api:1.4.2";

/** The config after each apply in turn, as the config stream folds it. */
export function configAfter(...applies: unknown[][]): ConfigState {
  let state = configDecider.initialState();
  for (const documents of applies)
    for (const e of configDecider.decide({ type: "ApplyConfig", documents }, state))
      state = configDecider.evolve(state, e);
  return state;
}

/** A release of shop's api at IMAGE, created from the first versions of the application and the service. */
export const releaseCreated = (releaseId: string): EventOf<"ReleaseCreated"> => ({
  type: "ReleaseCreated",
  data: {
    releaseId,
    application: "shop",
    service: "api",
    params: { image: IMAGE },
    source: {},
    channels: ["staging", "production"],
    configVersions: { application: 1, service: 1 },
  },
});

/** A release going live in shop's staging channel: dispatched to k8s-staging, applied there, converged. */
export const liveInStaging = (releaseId: string): DomainEvent[] => [
  {
    type: "InstructionDispatched",
    data: {
      application: "shop",
      channel: "staging",
      service: "api",
      releaseId,
      runtime: "k8s-staging",
      instructionId: `shop.staging.${releaseId}.k8s-staging`,
      payload: { kind: "kubernetes", manifests: ["m"] },
      rollback: false,
    },
  },
  {
    type: "ApplySucceeded",
    data: { instructionId: `shop.staging.${releaseId}.k8s-staging`, runtime: "k8s-staging", releaseId },
  },
  {
    type: "ChannelConverged",
    data: {
      application: "shop",
      channel: "staging",
      service: "api",
      releaseId,
      convergedAt: "2026-11-23T09:00:00.000Z",
    },
  },
];
