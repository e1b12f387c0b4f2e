/* Resource types as SST generates them for the resources in sst.config.ts (`sst install` rewrites it). */
/* eslint-disable */
import "sst";
declare module "sst" {
  export interface Resource {
    App: { name: string; stage: string };
    Events: { name: string; type: "sst.aws.Dynamo" };
  }
}
export {};
