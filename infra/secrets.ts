/**
 * Secrets, set per stage with `npx sst secret set <Name> <value> --stage <stage>`; the handlers read
 * them through `Resource.<Name>.value` (functions/wiring.ts).
 */
export const adminApiKey = new sst.Secret("AdminApiKey");
export const webhookSecret = new sst.Secret("WebhookSecret");
export const slackSigningSecret = new sst.Secret("SlackSigningSecret");
