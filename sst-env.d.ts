/* Resource types as SST generates them for the resources in sst.config.ts (`sst install` rewrites it). */
/* eslint-disable */
import "sst";
declare module "sst" {
  export interface Resource {
    App: { name: string; stage: string };
    Events: { name: string; type: "sst.aws.Dynamo" };
    ReadModels: { name: string; type: "sst.aws.Dynamo" };
    Secrets: { name: string; type: "sst.aws.Dynamo" };
    Preconditions: { url: string; type: "sst.aws.Queue" };
    Notifications: { url: string; type: "sst.aws.Queue" };
    Api: { url: string; type: "sst.aws.ApiGatewayV2" };
    Agents: { url: string; managementEndpoint: string; type: "sst.aws.ApiGatewayWebSocket" };
    AdminApiKey: { value: string; type: "sst.sst.Secret" };
    WebhookSecret: { value: string; type: "sst.sst.Secret" };
    SlackSigningSecret: { value: string; type: "sst.sst.Secret" };
  }
}
export {};
