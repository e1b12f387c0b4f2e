import { SendMessageCommand, type SQSClient } from "@aws-sdk/client-sqs";

/** Largest delay SQS allows on one message; longer waits are chained. */
export const MAX_DELAY_S = 900;

/**
 * Something due at `at`: a release's gates evaluated again in a channel (messages without a kind,
 * as they always were), a channel's pause ending — `at` is then the pause's until, which names
 * the pause: a channel paused again since with another until is not resumed — or what a runtime's
 * agent has not finished sent again to a connection that was still opening, or an instruction
 * dispatched on the write path pushed, should its agent still not have acknowledged it (`push`:
 * the InstructionDispatched event's stream and version).
 */
export type WakeUp = (
  | { kind?: "evaluate"; releaseId: string; channel: string; at: string }
  | { kind: "resume"; application: string; channel: string; at: string }
  | {
      kind: "redeliver";
      runtime: string;
      connectionId: string;
      at: string;
      /** An upgrade request goes first (it was not delivered either). */
      upgrade?: boolean;
    }
  | { kind: "push"; streamId: string; version: number; at: string }
) & {
  /** The story the wake-up belongs to: the events it leads to carry it on. */
  correlationId?: string;
};

/** Schedules wake-ups as delayed SQS messages: nothing polls. */
export class WakeUpQueue {
  constructor(
    private readonly sqs: SQSClient,
    private readonly queueUrl: string,
  ) {}

  async schedule(wake: WakeUp, now: Date): Promise<void> {
    // Rounded down: the message arrives up to a second early and the scheduler waits out the rest,
    // so the gate is evaluated at its time rather than up to a second after it.
    const delay = Math.min(MAX_DELAY_S, Math.max(0, Math.floor((Date.parse(wake.at) - now.getTime()) / 1000)));
    await this.sqs.send(
      new SendMessageCommand({ QueueUrl: this.queueUrl, MessageBody: JSON.stringify(wake), DelaySeconds: delay }),
    );
  }
}
