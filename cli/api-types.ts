/**
 * The shapes the HTTP API answers with, as docs/http-api.md documents them. The CLI is a client of
 * the API like any script, so it states what it relies on here rather than importing the server.
 */

export type Actor = { kind: string; id: string };

export type ChannelState =
  | "pending"
  | "waiting"
  | "deploying"
  | "converged"
  | "failed"
  | "replaced"
  | "rolledBack"
  | "superseded"
  | "abandoned"
  | "bad";
export const CHANNEL_STATES: readonly ChannelState[] = [
  "pending",
  "waiting",
  "deploying",
  "converged",
  "failed",
  "replaced",
  "rolledBack",
  "superseded",
  "abandoned",
  "bad",
];

/** An item of `GET /v1/releases`. */
export type ReleaseSummary = {
  releaseId: string;
  application: string;
  service: string;
  params: Record<string, string | number>;
  author?: string;
  cause: "ci" | "config";
  createdAt: string;
  status: "active" | "abandoned";
  bad?: { reason: string };
  channels: { name: string; state: ChannelState; waiting?: string[] }[];
};
export type Page<T> = { items: T[]; nextCursor?: string };

export type GateResult = { state: "satisfied"; note?: string } | { state: "blocked"; reason: string; until?: string };

/** `GET /v1/releases/{id}`. */
export type ReleaseView = {
  releaseId: string;
  status: "active" | "abandoned";
  bad?: { reason: string };
  application: string;
  service: string;
  params: Record<string, string | number>;
  source: Record<string, string | undefined>;
  author?: string;
  cause: "ci" | "config";
  basedOn?: string;
  configVersions: { application: number; service: number; runtimes?: Record<string, number> };
  channels: {
    name: string;
    started: boolean;
    preconditions: Record<string, GateResult>;
    approvals: Record<
      string,
      {
        requested: boolean;
        minApprovers?: number;
        grantedBy: string[];
        rejected?: { approver: string; comment?: string };
      }
    >;
    supersededBy?: string;
    explicitPromotion?: { reason: string; hold: number };
    overrides?: Record<string, { by: string; reason: string }>;
    deployment: "none" | "deploying" | "converged" | "failed" | "replaced";
    waiting?: string[];
    inputs?: { params: Record<string, string | number>; constants: Record<string, string | number | boolean> };
  }[];
};

/** An item of `GET /v1/releases/{id}/events`. */
export type HistoryEvent = {
  streamId: string;
  version: number;
  type: string;
  occurredAt: string;
  actor: Actor;
  data: unknown;
};

/** An item of `GET /v1/events`. */
export type FeedEvent = HistoryEvent & { cursor: string; application?: string; releaseId?: string };

/** An item of `GET /v1/applications`. */
export type ApplicationSummary = { name: string; version: number; channels: string[]; services: string[] };

/** `GET /v1/applications/{app}`. */
export type ApplicationView = {
  application: string;
  version: number;
  channels: {
    name: string;
    paused?: { reason?: string; until?: string };
    services: Record<
      string,
      {
        state: "idle" | "deploying" | "converged" | "failed";
        desiredReleaseId?: string;
        rollback?: boolean;
        convergedReleaseId?: string;
        convergedAt?: string;
        runtimes: Record<string, { instructionId: string; releaseId: string; status: string; message?: string }>;
      }
    >;
    waiting: { releaseId: string; reasons: string[] }[];
    unlinkedRuntimes?: string[];
  }[];
};

/** An item of `GET /v1/runtimes`. */
export type RuntimeView = {
  name: string;
  type: "kubernetes" | "extension";
  linked: boolean;
  connected: boolean;
  status: "connected" | "reconnecting" | "disconnected";
  agentVersion?: string;
  leaseGeneration?: number;
  lastSeenAt?: string;
  disconnectReason?: string;
  proxyRuntime?: string;
  running?: { service: string; releaseId?: string; images?: string[]; healthy: boolean }[];
  stateReportedAt?: string;
  cluster?: { id: string; serverVersion?: string };
  tokenRotatedAt?: string;
  previousTokenValidUntil?: string;
  management: "managed" | "external";
  upgradeAvailable: boolean;
  latestAgentVersion: string;
};

export type ApiKeyView = { keyId: string; name: string; scopes: string[]; revoked: boolean };
export type SecretView = { name: string; updatedAt: string; updatedBy: string };

export type ConfigKind = "runtime" | "application" | "service";
export type StoredObject = { kind: ConfigKind; name: string; version: number; spec: Record<string, unknown> };
export type ApplyResult = {
  applied: { kind: ConfigKind; name: string; version: number }[];
  unchanged: { kind: ConfigKind; name: string; version: number }[];
};

export type LinkedRuntime = {
  runtime: string;
  token: string;
  tokenId: string;
  serverUrl: string;
  installManifest: string;
};

/** `POST /v1/runtimes/{name}/token`. */
export type RotatedToken = {
  runtime: string;
  token: string;
  tokenId: string;
  tokenGeneration: number;
  rotatedAt: string;
  previousTokenId: string;
  previousTokenValidUntil: string;
  secret: { namespace: string; name: string; key: string };
  commands: string[];
};

/** `POST /v1/runtimes/{name}/revoke`. */
export type RevokedTokens = {
  runtime: string;
  scope: "all" | "previous";
  changed: boolean;
  tokens: { tokenId: string; tokenGeneration: number }[];
  disconnected?: string;
};

export type ApprovalAnswer = {
  approval: string;
  state: "approved" | "rejected" | "pending";
  grantedBy: string[];
  minApprovers: number;
  requested: boolean;
  rejected?: { approver: string; comment?: string };
};
