import { describe, expect, it } from "vitest";
import {
  channelInputs,
  configDecider,
  DomainError,
  parseDocuments,
  renderInstructions,
  Service,
  type Runtime,
} from "../../core/index.js";
import { docs, IMAGE, parsed } from "../support/fixtures.js";

const runtimes = new Map<string, Runtime>([
  ["k8s-staging", parsed.staging],
  ["k8s-production", parsed.production],
]);
const manifest =
  "kind: Deployment\nspec:\n  replicas: {{.Constants.replicas}}\n  logLevel: {{.Params.logLevel}}\n  tier: {{.Constants.tier}}\n  image: {{.Params.image}}";
const api = (perChannel: object, extra: object = {}) => ({
  service: {
    ...docs.api.service,
    parameters: [
      { name: "image", type: "dockerImage", required: true },
      { name: "logLevel", default: "debug" },
      { name: "workers", type: "number", default: 1 },
    ],
    constants: { tier: "default" },
    kubernetesConfig: { manifests: [manifest] },
    perChannel,
    ...extra,
  },
});

function issues(...documents: unknown[]) {
  try {
    configDecider.decide(
      { type: "ApplyConfig", documents: [docs.staging, docs.production, docs.shop, ...documents] },
      configDecider.initialState(),
    );
  } catch (err) {
    if (err instanceof DomainError) return err.issues;
    throw err;
  }
  return [];
}

describe("per-channel values of a service", () => {
  it("renders each channel with its own parameter values and constants", () => {
    const service = Service.parse(
      api({
        production: {
          parameterValues: [{ name: "logLevel", value: "warn" }],
          constants: { replicas: 5, tier: "gold" },
        },
      }).service,
    );
    const render = (channel: string) => {
      const [instruction] = renderInstructions({
        application: parsed.shop,
        channel,
        service,
        runtimes,
        releaseId: "r1",
        params: { image: IMAGE, logLevel: "debug", workers: 1 },
      });
      return instruction?.payload.kind === "kubernetes" ? instruction.payload.manifests[0] : undefined;
    };
    // Staging: the release's params, the channel's replicas, the service's tier.
    expect(render("staging")).toBe(
      `kind: Deployment\nspec:\n  replicas: 1\n  logLevel: debug\n  tier: default\n  image: ${IMAGE}`,
    );
    // Production: its parameter value in place of the release's; its constants over the channel's and the service's.
    expect(render("production")).toBe(
      `kind: Deployment\nspec:\n  replicas: 5\n  logLevel: warn\n  tier: gold\n  image: ${IMAGE}`,
    );
    expect(channelInputs(parsed.shop, service, "production", { image: IMAGE, logLevel: "debug" })).toEqual({
      params: { image: IMAGE, logLevel: "warn" },
      constants: { tier: "gold", replicas: 5 },
    });
    expect(channelInputs(parsed.shop, service, "qa", {})).toBeUndefined();
  });

  it("is accepted when it names channels of the application and declared parameters with fitting values", () => {
    expect(
      issues(
        api({ staging: { parameterValues: [{ name: "workers", value: 2 }] }, production: { constants: { x: true } } }),
      ),
    ).toEqual([]);
  });

  it("names every channel that does not exist, undeclared or repeated parameter, and misfitting value", () => {
    expect(
      issues(
        api({
          qa: { constants: { replicas: 2 } },
          production: {
            parameterValues: [
              { name: "colour", value: "blue" },
              { name: "workers", value: "many" },
              { name: "image", value: "not an image" },
              { name: "workers", value: 3 },
            ],
          },
        }),
      ),
    ).toEqual([
      {
        path: "documents[3].service.perChannel.qa",
        message: 'release channel "qa" does not exist in application "shop"',
      },
      {
        path: "documents[3].service.perChannel.production.parameterValues[0].name",
        message: 'parameter "colour" is not declared by the service',
      },
      {
        path: "documents[3].service.perChannel.production.parameterValues[1].value",
        message: 'the value of parameter "workers" must be a number',
      },
      {
        path: "documents[3].service.perChannel.production.parameterValues[2].value",
        message:
          'the value of parameter "image" must be a docker image reference such as registry.example.com/team/api:1.4.2',
      },
      {
        path: "documents[3].service.perChannel.production.parameterValues[3].name",
        message: 'parameter "workers" is given more than once',
      },
    ]);
  });

  it("refuses a key that cannot be a channel name, saying what a name must be", () => {
    const result = parseDocuments([api({ Production: {} })]);
    expect(result.ok === false && result.issues).toEqual([
      {
        path: "service.perChannel.Production",
        message:
          "service.perChannel.Production is not a valid name: it must be lowercase letters, digits and '-', start with a letter and not end with '-'",
      },
    ]);
  });

  it("lets a per-channel constant give a channel the value it lacks, and only that channel", () => {
    const noTier = (perChannel: object) => api(perChannel, { constants: {} });
    expect(issues(noTier({ staging: { constants: { tier: "s" } }, production: { constants: { tier: "p" } } }))).toEqual(
      [],
    );
    expect(issues(noTier({ staging: { constants: { tier: "s" } } }))).toEqual([
      {
        path: "documents[3].service.kubernetesConfig.manifests[0]",
        message:
          '{{.Constants.tier}} has no value in release channel "production" of application "shop", nor in the service\'s constants',
      },
    ]);
  });
});
