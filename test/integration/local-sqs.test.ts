import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  ChangeMessageVisibilityCommand,
  CreateQueueCommand,
  DeleteMessageBatchCommand,
  DeleteMessageCommand,
  GetQueueAttributesCommand,
  GetQueueUrlCommand,
  QueueDoesNotExist,
  ReceiveMessageCommand,
  SendMessageBatchCommand,
  SendMessageCommand,
  SQSClient,
} from "@aws-sdk/client-sqs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { LOCAL_CREDENTIALS, LOCAL_REGION } from "../../infra/local/dynamodb.js";
import { SqsEventSourceMapping, type SqsEvent } from "../../infra/local/sqs-mapping.js";
import { LocalSqs, md5 } from "../../infra/local/sqs.js";

const dir = mkdtempSync(join(tmpdir(), "slipway-sqs-"));
let sqs: LocalSqs;
let client: SQSClient;
let n = 0;

function clientFor(endpoint: string) {
  return new SQSClient({ endpoint, region: LOCAL_REGION, credentials: LOCAL_CREDENTIALS });
}
async function queue(attributes: Record<string, string> = {}) {
  const { QueueUrl } = await client.send(new CreateQueueCommand({ QueueName: `q-${++n}`, Attributes: attributes }));
  return QueueUrl!;
}

beforeAll(async () => {
  sqs = new LocalSqs(join(dir, "sqs.jsonl"));
  client = clientFor(await sqs.listen());
});
afterAll(async () => {
  client.destroy();
  await sqs.close();
  rmSync(dir, { recursive: true, force: true });
});

describe("local SQS with the real SQS client", () => {
  it("creates queues, finds them by name and refuses unknown ones with QueueDoesNotExist", async () => {
    const url = await queue();
    const { QueueUrl } = await client.send(new GetQueueUrlCommand({ QueueName: url.split("/").pop()! }));
    expect(QueueUrl).toBe(url);
    await expect(client.send(new GetQueueUrlCommand({ QueueName: "nope" }))).rejects.toBeInstanceOf(QueueDoesNotExist);
  });

  it("sends and receives with correct MD5 digests, then deletes", async () => {
    const url = await queue();
    const body = JSON.stringify({ hello: "wörld" });
    const sent = await client.send(
      new SendMessageCommand({
        QueueUrl: url,
        MessageBody: body,
        MessageAttributes: { kind: { DataType: "String", StringValue: "evaluate" } },
      }),
    );
    expect(sent.MD5OfMessageBody).toBe(md5(body));
    expect(sent.MD5OfMessageAttributes).toMatch(/^[a-f0-9]{32}$/);
    const { Messages } = await client.send(
      new ReceiveMessageCommand({ QueueUrl: url, MessageAttributeNames: ["All"] }),
    );
    expect(Messages?.[0]).toMatchObject({
      MessageId: sent.MessageId,
      Body: body,
      MD5OfBody: md5(body),
      MessageAttributes: { kind: { StringValue: "evaluate" } },
    });
    await client.send(new DeleteMessageCommand({ QueueUrl: url, ReceiptHandle: Messages![0]!.ReceiptHandle! }));
    const after = await client.send(new GetQueueAttributesCommand({ QueueUrl: url, AttributeNames: ["All"] }));
    expect(after.Attributes).toMatchObject({
      ApproximateNumberOfMessages: "0",
      ApproximateNumberOfMessagesNotVisible: "0",
    });
  });

  it("honours DelaySeconds: the message is invisible until its delay has passed, and a long poll returns it then", async () => {
    const url = await queue();
    const sentAt = Date.now();
    await client.send(new SendMessageCommand({ QueueUrl: url, MessageBody: "later", DelaySeconds: 2 }));
    expect(
      (await client.send(new ReceiveMessageCommand({ QueueUrl: url, WaitTimeSeconds: 0 }))).Messages ?? [],
    ).toEqual([]);
    expect(
      (
        await client.send(
          new GetQueueAttributesCommand({ QueueUrl: url, AttributeNames: ["ApproximateNumberOfMessagesDelayed"] }),
        )
      ).Attributes,
    ).toEqual({ ApproximateNumberOfMessagesDelayed: "1" });
    const { Messages } = await client.send(new ReceiveMessageCommand({ QueueUrl: url, WaitTimeSeconds: 10 }));
    expect(Messages?.[0]?.Body).toBe("later");
    expect(Date.now() - sentAt).toBeGreaterThanOrEqual(2000);
  });

  it("re-delivers a message whose visibility timeout expired, counting receives", async () => {
    const url = await queue({ VisibilityTimeout: "1" });
    await client.send(new SendMessageCommand({ QueueUrl: url, MessageBody: "again" }));
    const first = await client.send(new ReceiveMessageCommand({ QueueUrl: url, MessageSystemAttributeNames: ["All"] }));
    expect(
      (await client.send(new ReceiveMessageCommand({ QueueUrl: url, WaitTimeSeconds: 0 }))).Messages ?? [],
    ).toEqual([]);
    const second = await client.send(
      new ReceiveMessageCommand({ QueueUrl: url, WaitTimeSeconds: 5, MessageSystemAttributeNames: ["All"] }),
    );
    expect(second.Messages?.[0]?.MessageId).toBe(first.Messages?.[0]?.MessageId);
    expect(second.Messages?.[0]?.Attributes?.ApproximateReceiveCount).toBe("2");
  });

  it("changes a message's visibility, and refuses it for a message not in flight", async () => {
    const url = await queue({ VisibilityTimeout: "60" });
    await client.send(new SendMessageCommand({ QueueUrl: url, MessageBody: "soon" }));
    const { Messages } = await client.send(new ReceiveMessageCommand({ QueueUrl: url }));
    await client.send(
      new ChangeMessageVisibilityCommand({
        QueueUrl: url,
        ReceiptHandle: Messages![0]!.ReceiptHandle!,
        VisibilityTimeout: 0,
      }),
    );
    const again = await client.send(new ReceiveMessageCommand({ QueueUrl: url }));
    expect(again.Messages?.[0]?.Body).toBe("soon");
    await client.send(new DeleteMessageCommand({ QueueUrl: url, ReceiptHandle: again.Messages![0]!.ReceiptHandle! }));
    await expect(
      client.send(
        new ChangeMessageVisibilityCommand({
          QueueUrl: url,
          ReceiptHandle: again.Messages![0]!.ReceiptHandle!,
          VisibilityTimeout: 5,
        }),
      ),
    ).rejects.toThrow(/not in flight/);
  });

  it("moves a message to the dead-letter queue after maxReceiveCount receives", async () => {
    const dlq = await queue();
    const dlqArn = (await client.send(new GetQueueAttributesCommand({ QueueUrl: dlq, AttributeNames: ["QueueArn"] })))
      .Attributes!.QueueArn!;
    const url = await queue({
      VisibilityTimeout: "0",
      RedrivePolicy: JSON.stringify({ deadLetterTargetArn: dlqArn, maxReceiveCount: 2 }),
    });
    await client.send(new SendMessageCommand({ QueueUrl: url, MessageBody: "poison" }));
    for (let i = 0; i < 2; i++)
      expect((await client.send(new ReceiveMessageCommand({ QueueUrl: url }))).Messages?.[0]?.Body).toBe("poison");
    expect((await client.send(new ReceiveMessageCommand({ QueueUrl: url }))).Messages ?? []).toEqual([]);
    expect((await client.send(new ReceiveMessageCommand({ QueueUrl: dlq }))).Messages?.[0]?.Body).toBe("poison");
  });

  it("sends and deletes in batches, reporting each entry", async () => {
    const url = await queue();
    const sent = await client.send(
      new SendMessageBatchCommand({
        QueueUrl: url,
        Entries: [
          { Id: "a", MessageBody: "1" },
          { Id: "b", MessageBody: "2", DelaySeconds: 901 },
        ],
      }),
    );
    expect(sent.Successful?.map((s) => s.Id)).toEqual(["a"]);
    expect(sent.Failed).toEqual([
      expect.objectContaining({ Id: "b", Code: "InvalidParameterValue", SenderFault: true }),
    ]);
    const { Messages = [] } = await client.send(new ReceiveMessageCommand({ QueueUrl: url, MaxNumberOfMessages: 10 }));
    const deleted = await client.send(
      new DeleteMessageBatchCommand({
        QueueUrl: url,
        Entries: Messages.map((m, i) => ({ Id: `d${i}`, ReceiptHandle: m.ReceiptHandle! })),
      }),
    );
    expect(deleted.Successful?.map((s) => s.Id)).toEqual(["d0"]);
  });

  it("refuses invalid parameters with the SQS error", async () => {
    const url = await queue();
    await expect(
      client.send(new SendMessageCommand({ QueueUrl: url, MessageBody: "x", DelaySeconds: 1000 })),
    ).rejects.toThrow(/DelaySeconds must be an integer from 0 to 900/);
    await expect(client.send(new ReceiveMessageCommand({ QueueUrl: url, MaxNumberOfMessages: 11 }))).rejects.toThrow(
      /MaxNumberOfMessages/,
    );
  });

  it("keeps queues and undelivered messages — delayed and in flight — across a restart", async () => {
    const path = join(dir, "restart.jsonl");
    const first = new LocalSqs(path);
    const c1 = clientFor(await first.listen());
    const { QueueUrl } = await c1.send(
      new CreateQueueCommand({ QueueName: "kept", Attributes: { VisibilityTimeout: "1" } }),
    );
    await c1.send(new SendMessageCommand({ QueueUrl, MessageBody: "in-flight" }));
    await c1.send(new ReceiveMessageCommand({ QueueUrl }));
    await c1.send(new SendMessageCommand({ QueueUrl, MessageBody: "delayed", DelaySeconds: 1 }));
    await c1.send(new SendMessageCommand({ QueueUrl, MessageBody: "done" }));
    const done = await c1.send(new ReceiveMessageCommand({ QueueUrl, WaitTimeSeconds: 0 }));
    await c1.send(new DeleteMessageCommand({ QueueUrl, ReceiptHandle: done.Messages![0]!.ReceiptHandle! }));
    c1.destroy();
    await first.close();

    const second = new LocalSqs(path);
    const c2 = clientFor(await second.listen());
    try {
      const url = (await c2.send(new GetQueueUrlCommand({ QueueName: "kept" }))).QueueUrl!;
      const bodies = new Set<string>();
      const deadline = Date.now() + 10_000;
      while (bodies.size < 2 && Date.now() < deadline) {
        const { Messages = [] } = await c2.send(
          new ReceiveMessageCommand({ QueueUrl: url, MaxNumberOfMessages: 10, WaitTimeSeconds: 2 }),
        );
        for (const m of Messages) bodies.add(m.Body!);
      }
      expect([...bodies].sort()).toEqual(["delayed", "in-flight"]);
    } finally {
      c2.destroy();
      await second.close();
    }
  });
});

describe("SQS event source mapping", () => {
  it("deletes what the consumer handled and retries the batchItemFailures it reported", async () => {
    const url = await queue({ VisibilityTimeout: "1" });
    const seen: string[] = [];
    let failedOnce = false;
    const mapping = new SqsEventSourceMapping(client, {
      functionName: "scheduler",
      queueUrl: url,
      handler: (event: SqsEvent) => {
        seen.push(...event.Records.map((r) => r.body));
        const b = event.Records.find((r) => r.body === "b");
        if (b && !failedOnce) {
          failedOnce = true;
          return { batchItemFailures: [{ itemIdentifier: b.messageId }] };
        }
        return {};
      },
    });
    await client.send(
      new SendMessageBatchCommand({
        QueueUrl: url,
        Entries: [
          { Id: "a", MessageBody: "a" },
          { Id: "b", MessageBody: "b" },
        ],
      }),
    );
    mapping.start();
    try {
      const deadline = Date.now() + 15_000;
      while (seen.filter((s) => s === "b").length < 2 && Date.now() < deadline)
        await new Promise((r) => setTimeout(r, 50));
    } finally {
      await mapping.stop();
    }
    expect(seen.filter((s) => s === "a")).toHaveLength(1);
    expect(seen.filter((s) => s === "b")).toHaveLength(2);
    const attrs = await client.send(new GetQueueAttributesCommand({ QueueUrl: url, AttributeNames: ["All"] }));
    expect(attrs.Attributes).toMatchObject({
      ApproximateNumberOfMessages: "0",
      ApproximateNumberOfMessagesNotVisible: "0",
    });
  });

  it("leaves the whole batch for retry when the consumer throws", async () => {
    const url = await queue({ VisibilityTimeout: "1" });
    let calls = 0;
    const mapping = new SqsEventSourceMapping(client, {
      functionName: "scheduler",
      queueUrl: url,
      handler: () => {
        calls += 1;
        if (calls === 1) throw new Error("transient");
      },
    });
    await client.send(new SendMessageCommand({ QueueUrl: url, MessageBody: "x" }));
    mapping.start();
    try {
      const deadline = Date.now() + 15_000;
      while (calls < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    } finally {
      await mapping.stop();
    }
    expect(calls).toBe(2);
  });
});
