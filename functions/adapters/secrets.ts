import { Resource } from "sst";

/** The secrets the API checks requests against. On AWS they are SST secrets; locally the stack makes them. */
export type Secrets = {
  /** Bootstrap key with the admin scope, for the first requests (and for issuing further keys). */
  adminApiKey: string;
  /** HMAC-SHA256 key of the CI webhook's `X-Slipway-Signature-256`. */
  webhookSecret: string;
  /** Slack's signing secret, for `X-Slack-Signature` on interactive callbacks. */
  slackSigningSecret: string;
};

export function secretsFromResources(): Secrets {
  return {
    adminApiKey: Resource.AdminApiKey.value,
    webhookSecret: Resource.WebhookSecret.value,
    slackSigningSecret: Resource.SlackSigningSecret.value,
  };
}
