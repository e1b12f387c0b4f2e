import { describe, it } from "vitest";
import { deliveryDecider, type DeliveryCommand } from "../../core/index.js";
import { specFor } from "../support/spec.js";

/** A runtime's delivery stream: its acknowledgements and progress, apart from every other runtime's. */
const spec = specFor(deliveryDecider);
type E = Parameters<typeof spec>[0][number];

const reported = { instructionId: "shop.staging.r1.eu", runtime: "eu", service: "api", releaseId: "r1" };
const ack: DeliveryCommand = { type: "AcknowledgeInstruction", ...reported, connectionId: "c1", leaseGeneration: 3 };
const progress = (outcome: "applying" | "succeeded", message?: string): DeliveryCommand => ({
  type: "ReportProgress",
  ...reported,
  outcome,
  ...(message ? { message } : {}),
});
const { releaseId: _r, ...identity } = reported;
const acked: E = { type: "InstructionAcknowledged", data: { ...identity, connectionId: "c1", leaseGeneration: 3 } };
const applying: E = { type: "ApplyStarted", data: reported };
const succeeded: E = { type: "ApplySucceeded", data: { ...reported, message: "rolled out api" } };

describe("delivery decider", () => {
  it("records an acknowledgement once, and none after the instruction got further", () => {
    spec([]).when(ack).then([acked]);
    spec([acked]).when(ack).thenNothing();
    spec([applying]).when(ack).thenNothing();
    spec([succeeded]).when(ack).thenNothing();
  });
  it("moves an instruction only forward: applying, then succeeded", () => {
    spec([acked]).when(progress("applying")).then([applying]);
    spec([acked, applying]).when(progress("applying")).thenNothing();
    spec([acked, applying]).when(progress("succeeded", "rolled out api")).then([succeeded]);
    spec([succeeded]).when(progress("applying")).thenNothing();
    spec([succeeded]).when(progress("succeeded")).thenNothing();
  });
  it("takes a success without an acknowledgement first (messages may be lost or reordered)", () => {
    spec([]).when(progress("succeeded", "rolled out api")).then([succeeded]);
  });
  it("keeps each instruction's progress apart", () => {
    const other = { ...reported, instructionId: "shop.staging.r2.eu", releaseId: "r2" };
    spec([succeeded])
      .when({ type: "ReportProgress", ...other, outcome: "applying" })
      .then([{ type: "ApplyStarted", data: other }]);
  });
});
