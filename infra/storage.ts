/** Every table can be restored to any second of the last 35 days. */
const pointInTimeRecovery: sst.aws.DynamoArgs["transform"] = {
  table: (args) => {
    args.pointInTimeRecovery = { enabled: true };
  },
};

/**
 * The event log: one item per event, keyed by stream and version, with a NEW_IMAGE stream that the
 * projector and reactors consume. Mirrors eventTableDefinition() in functions/adapters/event-store.ts,
 * which the local stack and the tests create.
 */
export const eventLog = new sst.aws.Dynamo("Events", {
  fields: { stream: "string", version: "number" },
  primaryIndex: { hashKey: "stream", rangeKey: "version" },
  stream: "new-image",
  transform: pointInTimeRecovery,
});

/** Views derived from the log (see functions/adapters/read-models.ts); agent connection entries expire by TTL. */
export const readModels = new sst.aws.Dynamo("ReadModels", {
  fields: { pk: "string", sk: "string" },
  primaryIndex: { hashKey: "pk", rangeKey: "sk" },
  ttl: "expiresAt",
  transform: pointInTimeRecovery,
});

/**
 * Named secrets users keep (functions/adapters/secret-store.ts): linked only to the HTTP API, which
 * writes them, and the notifier, which signs with them. Mirrors secretTableDefinition().
 */
export const secrets = new sst.aws.Dynamo("Secrets", {
  fields: { pk: "string", sk: "string" },
  primaryIndex: { hashKey: "pk", rangeKey: "sk" },
  transform: pointInTimeRecovery,
});
