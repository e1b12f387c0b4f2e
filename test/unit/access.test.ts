import { describe, expect, it } from "vitest";
import { accessDecider, grants } from "../../core/index.js";
import { specFor } from "../support/spec.js";

const spec = specFor(accessDecider);
type E = Parameters<typeof spec>[0][number];
const HASH = "c".repeat(64);
const issued: E = {
  type: "ApiKeyIssued",
  data: { keyId: "k1", name: "github-actions", scopes: ["release"], keyHash: HASH },
};
const revoked: E = { type: "ApiKeyRevoked", data: { keyId: "k1" } };

describe("access decider", () => {
  it("issues a key with its scopes, once per id and per active name", () => {
    spec([])
      .when({ type: "IssueApiKey", keyId: "k1", name: "github-actions", scopes: ["release", "release"], keyHash: HASH })
      .then([issued]);
    spec([issued])
      .when({ type: "IssueApiKey", keyId: "k1", name: "other", scopes: ["read"], keyHash: HASH })
      .thenError("apikey.exists", 409);
    spec([issued])
      .when({ type: "IssueApiKey", keyId: "k2", name: "github-actions", scopes: ["read"], keyHash: HASH })
      .thenError("apikey.name_taken", 409);
    spec([issued, revoked])
      .when({ type: "IssueApiKey", keyId: "k2", name: "github-actions", scopes: ["read"], keyHash: HASH })
      .then([{ type: "ApiKeyIssued", data: { keyId: "k2", name: "github-actions", scopes: ["read"], keyHash: HASH } }]);
  });

  it("revokes a key once, and refuses unknown keys", () => {
    spec([issued]).when({ type: "RevokeApiKey", keyId: "k1" }).then([revoked]);
    spec([issued, revoked]).when({ type: "RevokeApiKey", keyId: "k1" }).thenNothing();
    spec([]).when({ type: "RevokeApiKey", keyId: "k1" }).thenError("apikey.not_found", 404);
  });

  it("lets admin do everything and other scopes only their own thing", () => {
    expect(grants(["admin"], "approve")).toBe(true);
    expect(grants(["release"], "release")).toBe(true);
    expect(grants(["release"], "approve")).toBe(false);
    expect(grants(["read"], "admin")).toBe(false);
  });
});
