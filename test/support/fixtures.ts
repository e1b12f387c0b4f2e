import { Application, Runtime, Service } from "../../core/index.js";

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
};

export const parsed = {
  staging: Runtime.parse(docs.staging.runtime),
  production: Runtime.parse(docs.production.runtime),
  vm: Runtime.parse(docs.vm.runtime),
  shop: Application.parse(docs.shop.application),
  api: Service.parse(docs.api.service),
};

export const IMAGE = "registry.example.com/shop/api:1.4.2";
