/** Stream ids: `<kind>#<id>`, one stream per consistency boundary. */
export const streams = {
  config: () => "config",
  release: (releaseId: string) => `release#${releaseId}`,
  channel: (application: string, channel: string) => `channel#${application}/${channel}`,
  runtime: (runtime: string) => `runtime#${runtime}`,
  apiKeys: () => "apikeys",
  secrets: () => "secrets",
  notification: (notificationId: string) => `notification#${notificationId}`,
} as const;
