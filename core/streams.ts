/** Stream ids: `<kind>#<id>`, one stream per consistency boundary. */
export const streams = {
  config: () => "config",
  release: (releaseId: string) => `release#${releaseId}`,
  channel: (application: string, channel: string) => `channel#${application}/${channel}`,
  runtime: (runtime: string) => `runtime#${runtime}`,
  /** How one runtime is getting on with one channel's instructions (see core/deciders/delivery.ts). */
  delivery: (application: string, channel: string, runtime: string) => `delivery#${application}/${channel}/${runtime}`,
  apiKeys: () => "apikeys",
  secrets: () => "secrets",
  notification: (notificationId: string) => `notification#${notificationId}`,
} as const;
