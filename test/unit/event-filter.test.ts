import { describe, expect, it } from "vitest";
import { isEventItem } from "../../functions/adapters/event-store.js";
import { eventRecordFilter, matchesFilter } from "../../infra/local/functions.js";

/** The FilterCriteria the stream subscribers carry on AWS, as the local mapping applies it. */
describe("the event record filter", () => {
  const record = (stream: string, version: string) => ({
    eventName: "INSERT",
    dynamodb: { Keys: { stream: { S: stream }, version: { N: version } } },
  });

  it("passes event items and drops command markers and claims (version 0)", () => {
    expect(matchesFilter(eventRecordFilter, record("release#r1", "1"))).toBe(true);
    expect(matchesFilter(eventRecordFilter, record("channel#shop/staging", "42"))).toBe(true);
    expect(matchesFilter(eventRecordFilter, record("command#c-1", "0"))).toBe(false);
    expect(matchesFilter(eventRecordFilter, record("claim#ci-signature:ab12", "0"))).toBe(false);
  });

  it("is what the stream consumers decode as events, too", () => {
    expect(isEventItem({ stream: "release#r1" })).toBe(true);
    expect(isEventItem({ stream: "command#c-1" })).toBe(false);
    expect(isEventItem({ stream: "claim#ci-signature:ab12" })).toBe(false);
  });

  it("drops records without the field, as Lambda does", () => {
    expect(matchesFilter(eventRecordFilter, { dynamodb: { Keys: {} } })).toBe(false);
  });

  it("matches listed values exactly", () => {
    expect(matchesFilter({ eventName: ["INSERT", "MODIFY"] }, { eventName: "MODIFY" })).toBe(true);
    expect(matchesFilter({ eventName: ["INSERT"] }, { eventName: "REMOVE" })).toBe(false);
  });
});
