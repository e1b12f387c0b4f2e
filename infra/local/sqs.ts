import { createHash, randomUUID } from "node:crypto";
import { existsSync, readFileSync, renameSync } from "node:fs";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { dirname } from "node:path";
import { textOf } from "./lambda.js";
import { appendPrivateFile, makePrivateDir, writePrivateFile } from "./private-files.js";

/**
 * A local SQS speaking the JSON protocol the current `@aws-sdk/client-sqs` uses
 * (`X-Amz-Target: AmazonSQS.<Operation>`, `application/x-amz-json-1.0`), so the unmodified client
 * works against it: standard queues with DelaySeconds, visibility timeouts, long polling, redrive to
 * a dead-letter queue after maxReceiveCount, and MD5 digests the client verifies. State is kept in
 * an append-only journal, so messages — delayed and in flight included — survive a restart.
 */

export const ACCOUNT_ID = "000000000000";
const REGION = "us-east-1";
const MAX_MESSAGE_BYTES = 256 * 1024;

type MessageAttributeValue = { DataType: string; StringValue?: string; BinaryValue?: string };

type Message = {
  id: string;
  body: string;
  md5: string;
  attributes?: Record<string, MessageAttributeValue>;
  sentAt: number;
  visibleAt: number;
  receiveCount: number;
  firstReceivedAt?: number;
  receipt?: string;
};

type QueueAttributes = {
  DelaySeconds: number;
  VisibilityTimeout: number;
  MessageRetentionPeriod: number;
  ReceiveMessageWaitTimeSeconds: number;
  RedrivePolicy?: { deadLetterTargetArn: string; maxReceiveCount: number };
};

type Queue = {
  name: string;
  createdAt: number;
  attributes: QueueAttributes;
  messages: Map<string, Message>;
  waiters: Set<() => void>;
};

type JournalEntry =
  | { op: "create"; name: string; createdAt: number; attributes: QueueAttributes }
  | { op: "send"; queue: string; message: Message }
  | {
      op: "update";
      queue: string;
      id: string;
      visibleAt: number;
      receiveCount: number;
      firstReceivedAt?: number;
      receipt?: string;
    }
  | { op: "delete"; queue: string; id: string }
  | { op: "move"; from: string; to: string; id: string };

export class SqsError extends Error {
  constructor(
    readonly type: string,
    message: string,
    readonly queryError = `AWS.SimpleQueueService.${type}`,
    readonly status = 400,
  ) {
    super(message);
  }
}

const invalidParameter = (message: string) => new SqsError("InvalidParameterValue", message, "InvalidParameterValue");

export function md5(text: string | Buffer): string {
  return createHash("md5").update(text).digest("hex");
}

/** MD5OfMessageAttributes as SQS computes it: names sorted, each field length-prefixed. */
export function md5OfMessageAttributes(attributes: Record<string, MessageAttributeValue>): string {
  const hash = createHash("md5");
  const field = (value: Buffer) => {
    const length = Buffer.alloc(4);
    length.writeUInt32BE(value.length);
    hash.update(length).update(value);
  };
  for (const name of Object.keys(attributes).sort()) {
    const a = attributes[name]!;
    field(Buffer.from(name));
    field(Buffer.from(a.DataType));
    if (a.BinaryValue !== undefined) {
      hash.update(Buffer.from([2]));
      field(Buffer.from(a.BinaryValue, "base64"));
    } else {
      hash.update(Buffer.from([1]));
      field(Buffer.from(a.StringValue ?? ""));
    }
  }
  return hash.digest("hex");
}

export class LocalSqs {
  private readonly queues = new Map<string, Queue>();
  private server?: Server;
  private baseUrl = "";
  /** Every request by operation name, for the benchmarks' cost accounting. */
  readonly requestCounts: Record<string, number> = {};

  constructor(
    private readonly journalPath?: string,
    private readonly clock: () => number = Date.now,
  ) {
    if (journalPath) this.load(journalPath);
  }

  get endpoint(): string {
    return this.baseUrl;
  }

  async listen(port = 0, host = "127.0.0.1"): Promise<string> {
    this.server = createServer((req, res) => void this.handle(req, res));
    await new Promise<void>((resolve, reject) => {
      this.server!.once("error", reject);
      this.server!.listen(port, host, () => resolve());
    });
    const address = this.server.address() as AddressInfo;
    this.baseUrl = `http://${host}:${address.port}`;
    return this.baseUrl;
  }

  async close(): Promise<void> {
    for (const q of this.queues.values()) for (const wake of q.waiters) wake();
    const server = this.server;
    if (!server) return;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  queueUrl(name: string): string {
    return `${this.baseUrl}/${ACCOUNT_ID}/${name}`;
  }

  static arnOf(name: string): string {
    return `arn:aws:sqs:${REGION}:${ACCOUNT_ID}:${name}`;
  }

  // ── protocol ──────────────────────────────────────────────────────────────────────────

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const target = String(req.headers["x-amz-target"] ?? "");
    const operation = target.startsWith("AmazonSQS.") ? target.slice("AmazonSQS.".length) : "";
    let status = 200;
    let payload: unknown;
    const headers: Record<string, string> = {
      "content-type": "application/x-amz-json-1.0",
      "x-amzn-requestid": randomUUID(),
    };
    try {
      if (req.method !== "POST" || !operation)
        throw new SqsError(
          "UnsupportedOperation",
          "only the SQS JSON protocol (POST with X-Amz-Target: AmazonSQS.*) is served here",
          "AWS.SimpleQueueService.UnsupportedOperation",
        );
      this.requestCounts[operation] = (this.requestCounts[operation] ?? 0) + 1;
      const input = chunks.length
        ? (JSON.parse(Buffer.concat(chunks).toString("utf8")) as Record<string, unknown>)
        : {};
      payload = await this.dispatch(operation, input);
    } catch (err) {
      const e =
        err instanceof SqsError
          ? err
          : err instanceof SyntaxError
            ? new SqsError("MalformedInput", "the request body is not JSON", "MalformedInput")
            : new SqsError("InternalError", String(err), "InternalError", 500);
      status = e.status;
      payload = { __type: `com.amazonaws.sqs#${e.type}`, message: e.message };
      headers["x-amzn-query-error"] = `${e.queryError};${e.status >= 500 ? "Receiver" : "Sender"}`;
    }
    res.writeHead(status, headers).end(JSON.stringify(payload ?? {}));
  }

  private dispatch(operation: string, input: Record<string, unknown>): unknown {
    switch (operation) {
      case "CreateQueue":
        return this.createQueue(textOf(input.QueueName), (input.Attributes ?? {}) as Record<string, string>);
      case "GetQueueUrl":
        return { QueueUrl: this.queueUrl(this.queueNamed(textOf(input.QueueName)).name) };
      case "ListQueues":
        return {
          QueueUrls: [...this.queues.keys()]
            .filter((n) => n.startsWith(textOf(input.QueueNamePrefix)))
            .map((n) => this.queueUrl(n)),
        };
      case "GetQueueAttributes":
        return {
          Attributes: this.attributesOf(
            this.queueAt(input.QueueUrl),
            (input.AttributeNames as string[] | undefined) ?? ["All"],
          ),
        };
      case "SendMessage":
        return this.send(this.queueAt(input.QueueUrl), input);
      case "SendMessageBatch":
        return this.batch(input, (q, entry) => {
          const { MessageId, MD5OfMessageBody, MD5OfMessageAttributes } = this.send(q, entry);
          return { MessageId, MD5OfMessageBody, ...(MD5OfMessageAttributes ? { MD5OfMessageAttributes } : {}) };
        });
      case "ReceiveMessage":
        return this.receive(this.queueAt(input.QueueUrl), input);
      case "DeleteMessage":
        this.deleteMessage(this.queueAt(input.QueueUrl), textOf(input.ReceiptHandle));
        return {};
      case "DeleteMessageBatch":
        return this.batch(input, (q, entry) => {
          this.deleteMessage(q, textOf(entry.ReceiptHandle));
          return {};
        });
      case "ChangeMessageVisibility":
        this.changeVisibility(this.queueAt(input.QueueUrl), textOf(input.ReceiptHandle), input.VisibilityTimeout);
        return {};
      case "PurgeQueue": {
        const q = this.queueAt(input.QueueUrl);
        for (const id of [...q.messages.keys()]) this.apply({ op: "delete", queue: q.name, id });
        return {};
      }
      default:
        throw new SqsError(
          "UnsupportedOperation",
          `${operation} is not supported by the local SQS`,
          "AWS.SimpleQueueService.UnsupportedOperation",
        );
    }
  }

  private batch(input: Record<string, unknown>, each: (q: Queue, entry: Record<string, unknown>) => object) {
    const q = this.queueAt(input.QueueUrl);
    const entries = (input.Entries as Record<string, unknown>[] | undefined) ?? [];
    if (entries.length === 0)
      throw new SqsError("EmptyBatchRequest", "the batch holds no entries", "AWS.SimpleQueueService.EmptyBatchRequest");
    if (entries.length > 10)
      throw new SqsError(
        "TooManyEntriesInBatchRequest",
        `a batch holds at most 10 entries, not ${entries.length}`,
        "AWS.SimpleQueueService.TooManyEntriesInBatchRequest",
      );
    const ids = new Set(entries.map((e) => e.Id));
    if (ids.size !== entries.length)
      throw new SqsError(
        "BatchEntryIdsNotDistinct",
        "batch entry ids must be distinct",
        "AWS.SimpleQueueService.BatchEntryIdsNotDistinct",
      );
    const Successful: object[] = [];
    const Failed: object[] = [];
    for (const entry of entries) {
      try {
        Successful.push({ Id: entry.Id, ...each(q, entry) });
      } catch (err) {
        const e = err instanceof SqsError ? err : new SqsError("InternalError", String(err), "InternalError", 500);
        Failed.push({ Id: entry.Id, Code: e.type, Message: e.message, SenderFault: e.status < 500 });
      }
    }
    return { Successful, Failed };
  }

  // ── queues ────────────────────────────────────────────────────────────────────────────

  createQueue(name: string, raw: Record<string, string> = {}): { QueueUrl: string } {
    if (!/^[A-Za-z0-9_-]{1,80}$/.test(name))
      throw invalidParameter("QueueName must be 1 to 80 letters, digits, '-' or '_'");
    if (name.endsWith(".fifo") || raw.FifoQueue === "true")
      throw invalidParameter("FIFO queues are not supported by the local SQS");
    const attributes = parseQueueAttributes(raw);
    const existing = this.queues.get(name);
    if (existing) {
      if (
        JSON.stringify(existing.attributes) !==
        JSON.stringify({ ...existing.attributes, ...pickGiven(attributes, raw) })
      )
        throw new SqsError(
          "QueueNameExists",
          `queue ${name} already exists with different attributes`,
          "QueueAlreadyExists",
        );
      return { QueueUrl: this.queueUrl(name) };
    }
    this.apply({ op: "create", name, createdAt: this.clock(), attributes });
    return { QueueUrl: this.queueUrl(name) };
  }

  private queueNamed(name: string): Queue {
    const q = this.queues.get(name);
    if (!q)
      throw new SqsError(
        "QueueDoesNotExist",
        `the queue ${name} does not exist`,
        "AWS.SimpleQueueService.NonExistentQueue",
      );
    return q;
  }

  private queueAt(url: unknown): Queue {
    if (typeof url !== "string" || url === "") throw invalidParameter("QueueUrl is required");
    return this.queueNamed(url.slice(url.lastIndexOf("/") + 1));
  }

  private attributesOf(q: Queue, names: string[]): Record<string, string> {
    const now = this.clock();
    let visible = 0;
    let inFlight = 0;
    let delayed = 0;
    for (const m of q.messages.values()) {
      if (m.visibleAt <= now) visible++;
      else if (m.receiveCount > 0) inFlight++;
      else delayed++;
    }
    const all: Record<string, string> = {
      QueueArn: LocalSqs.arnOf(q.name),
      ApproximateNumberOfMessages: String(visible),
      ApproximateNumberOfMessagesNotVisible: String(inFlight),
      ApproximateNumberOfMessagesDelayed: String(delayed),
      CreatedTimestamp: String(Math.floor(q.createdAt / 1000)),
      DelaySeconds: String(q.attributes.DelaySeconds),
      VisibilityTimeout: String(q.attributes.VisibilityTimeout),
      MessageRetentionPeriod: String(q.attributes.MessageRetentionPeriod),
      ReceiveMessageWaitTimeSeconds: String(q.attributes.ReceiveMessageWaitTimeSeconds),
      MaximumMessageSize: String(MAX_MESSAGE_BYTES),
      ...(q.attributes.RedrivePolicy ? { RedrivePolicy: JSON.stringify(q.attributes.RedrivePolicy) } : {}),
    };
    return names.includes("All") ? all : Object.fromEntries(Object.entries(all).filter(([k]) => names.includes(k)));
  }

  // ── messages ──────────────────────────────────────────────────────────────────────────

  private send(q: Queue, input: Record<string, unknown>) {
    const body = input.MessageBody;
    if (typeof body !== "string" || body.length === 0)
      throw new SqsError(
        "MissingParameter",
        "MessageBody is required and must not be empty",
        "AWS.SimpleQueueService.MissingParameter",
      );
    if (Buffer.byteLength(body) > MAX_MESSAGE_BYTES)
      throw invalidParameter(
        `MessageBody is ${Buffer.byteLength(body)} bytes; at most ${MAX_MESSAGE_BYTES} are allowed`,
      );
    const delay = input.DelaySeconds === undefined ? q.attributes.DelaySeconds : Number(input.DelaySeconds);
    if (!Number.isInteger(delay) || delay < 0 || delay > 900)
      throw invalidParameter("DelaySeconds must be an integer from 0 to 900");
    const attributes = input.MessageAttributes as Record<string, MessageAttributeValue> | undefined;
    const now = this.clock();
    const message: Message = {
      id: randomUUID(),
      body,
      md5: md5(body),
      sentAt: now,
      visibleAt: now + delay * 1000,
      receiveCount: 0,
      ...(attributes && Object.keys(attributes).length ? { attributes } : {}),
    };
    this.apply({ op: "send", queue: q.name, message });
    return {
      MessageId: message.id,
      MD5OfMessageBody: message.md5,
      ...(message.attributes ? { MD5OfMessageAttributes: md5OfMessageAttributes(message.attributes) } : {}),
    };
  }

  private async receive(q: Queue, input: Record<string, unknown>) {
    const max = input.MaxNumberOfMessages === undefined ? 1 : Number(input.MaxNumberOfMessages);
    if (!Number.isInteger(max) || max < 1 || max > 10)
      throw invalidParameter("MaxNumberOfMessages must be an integer from 1 to 10");
    const wait =
      input.WaitTimeSeconds === undefined ? q.attributes.ReceiveMessageWaitTimeSeconds : Number(input.WaitTimeSeconds);
    if (!Number.isInteger(wait) || wait < 0 || wait > 20)
      throw invalidParameter("WaitTimeSeconds must be an integer from 0 to 20");
    const visibility =
      input.VisibilityTimeout === undefined ? q.attributes.VisibilityTimeout : Number(input.VisibilityTimeout);
    if (!Number.isInteger(visibility) || visibility < 0 || visibility > 43200)
      throw invalidParameter("VisibilityTimeout must be an integer from 0 to 43200");
    const deadline = this.clock() + wait * 1000;
    for (;;) {
      const messages = this.take(q, max, visibility);
      if (messages.length > 0 || this.clock() >= deadline || !this.server?.listening) {
        return { Messages: messages };
      }
      await this.waitForChange(q, deadline);
    }
  }

  private take(q: Queue, max: number, visibility: number) {
    const now = this.clock();
    const out: object[] = [];
    const redrive = q.attributes.RedrivePolicy;
    const ready = [...q.messages.values()]
      .filter((m) => m.visibleAt <= now)
      .sort((a, b) => a.visibleAt - b.visibleAt || a.sentAt - b.sentAt);
    for (const m of ready) {
      if (out.length >= max) break;
      if (now - m.sentAt > q.attributes.MessageRetentionPeriod * 1000) {
        this.apply({ op: "delete", queue: q.name, id: m.id });
        continue;
      }
      // Like SQS, a message already received maxReceiveCount times moves to the dead-letter queue
      // on its next receive instead of being delivered again.
      if (redrive && m.receiveCount >= redrive.maxReceiveCount) {
        const dlq = redrive.deadLetterTargetArn.slice(redrive.deadLetterTargetArn.lastIndexOf(":") + 1);
        if (this.queues.has(dlq)) {
          this.apply({ op: "move", from: q.name, to: dlq, id: m.id });
          continue;
        }
      }
      const receipt = Buffer.from(`${q.name}:${m.id}:${randomUUID()}`).toString("base64url");
      const firstReceivedAt = m.firstReceivedAt ?? now;
      this.apply({
        op: "update",
        queue: q.name,
        id: m.id,
        visibleAt: now + visibility * 1000,
        receiveCount: m.receiveCount + 1,
        firstReceivedAt,
        receipt,
      });
      out.push({
        MessageId: m.id,
        ReceiptHandle: receipt,
        MD5OfBody: m.md5,
        Body: m.body,
        Attributes: {
          ApproximateReceiveCount: String(m.receiveCount),
          SentTimestamp: String(m.sentAt),
          ApproximateFirstReceiveTimestamp: String(firstReceivedAt),
          SenderId: ACCOUNT_ID,
        },
        ...(m.attributes
          ? { MessageAttributes: m.attributes, MD5OfMessageAttributes: md5OfMessageAttributes(m.attributes) }
          : {}),
      });
    }
    return out;
  }

  private waitForChange(q: Queue, deadline: number): Promise<void> {
    const now = this.clock();
    const nextVisible = Math.min(...[...q.messages.values()].map((m) => m.visibleAt).filter((t) => t > now));
    const until = Math.min(deadline, nextVisible);
    return new Promise((resolve) => {
      const wake = () => {
        clearTimeout(timer);
        q.waiters.delete(wake);
        resolve();
      };
      const timer = setTimeout(wake, Math.max(0, until - now));
      q.waiters.add(wake);
    });
  }

  private byReceipt(q: Queue, receipt: string): Message | undefined {
    const decoded = Buffer.from(receipt, "base64url").toString("utf8").split(":");
    if (decoded.length !== 3 || decoded[0] !== q.name)
      throw new SqsError(
        "ReceiptHandleIsInvalid",
        "the receipt handle is not valid for this queue",
        "ReceiptHandleIsInvalid",
      );
    return q.messages.get(decoded[1]!);
  }

  private deleteMessage(q: Queue, receipt: string): void {
    const m = this.byReceipt(q, receipt);
    // Deleting a message that is already gone succeeds, as on SQS.
    if (m) this.apply({ op: "delete", queue: q.name, id: m.id });
  }

  private changeVisibility(q: Queue, receipt: string, timeout: unknown): void {
    const seconds = Number(timeout);
    if (!Number.isInteger(seconds) || seconds < 0 || seconds > 43200)
      throw invalidParameter("VisibilityTimeout must be an integer from 0 to 43200");
    const m = this.byReceipt(q, receipt);
    if (!m || m.receipt !== receipt || m.visibleAt <= this.clock())
      throw new SqsError(
        "MessageNotInflight",
        "the message is not in flight under this receipt handle",
        "AWS.SimpleQueueService.MessageNotInflight",
      );
    this.apply({
      op: "update",
      queue: q.name,
      id: m.id,
      visibleAt: this.clock() + seconds * 1000,
      receiveCount: m.receiveCount,
      ...(m.firstReceivedAt ? { firstReceivedAt: m.firstReceivedAt } : {}),
      receipt,
    });
  }

  // ── state and journal ─────────────────────────────────────────────────────────────────

  private apply(entry: JournalEntry, persist = true): void {
    switch (entry.op) {
      case "create":
        this.queues.set(entry.name, {
          name: entry.name,
          createdAt: entry.createdAt,
          attributes: entry.attributes,
          messages: new Map(),
          waiters: new Set(),
        });
        break;
      case "send": {
        const q = this.queues.get(entry.queue);
        q?.messages.set(entry.message.id, { ...entry.message });
        break;
      }
      case "update": {
        const m = this.queues.get(entry.queue)?.messages.get(entry.id);
        if (m)
          Object.assign(m, {
            visibleAt: entry.visibleAt,
            receiveCount: entry.receiveCount,
            firstReceivedAt: entry.firstReceivedAt,
            receipt: entry.receipt,
          });
        break;
      }
      case "delete":
        this.queues.get(entry.queue)?.messages.delete(entry.id);
        break;
      case "move": {
        const from = this.queues.get(entry.from);
        const to = this.queues.get(entry.to);
        const m = from?.messages.get(entry.id);
        if (!from || !to || !m) break;
        from.messages.delete(entry.id);
        // In the dead-letter queue the message starts over: visible now, never received there.
        to.messages.set(m.id, {
          id: m.id,
          body: m.body,
          md5: m.md5,
          ...(m.attributes ? { attributes: m.attributes } : {}),
          sentAt: m.sentAt,
          visibleAt: this.clock(),
          receiveCount: 0,
        });
        break;
      }
    }
    if (persist && this.journalPath) appendPrivateFile(this.journalPath, `${JSON.stringify(entry)}\n`);
    const touched = entry.op === "create" ? entry.name : entry.op === "move" ? entry.to : entry.queue;
    for (const wake of this.queues.get(touched)?.waiters ?? []) wake();
  }

  /** Replays the journal, then rewrites it as the current state so it does not grow without end. */
  private load(path: string): void {
    makePrivateDir(dirname(path));
    if (existsSync(path)) {
      for (const line of readFileSync(path, "utf8").split("\n")) {
        if (!line.trim()) continue;
        let entry: JournalEntry;
        try {
          entry = JSON.parse(line) as JournalEntry;
        } catch {
          continue; // a line torn by a crash mid-write: the operation never completed
        }
        this.apply(entry, false);
      }
    }
    const compact: JournalEntry[] = [];
    for (const q of this.queues.values()) {
      compact.push({ op: "create", name: q.name, createdAt: q.createdAt, attributes: q.attributes });
      for (const m of q.messages.values()) compact.push({ op: "send", queue: q.name, message: m });
    }
    const tmp = `${path}.tmp`;
    writePrivateFile(tmp, compact.map((e) => `${JSON.stringify(e)}\n`).join(""));
    renameSync(tmp, path);
  }
}

function parseQueueAttributes(raw: Record<string, string>): QueueAttributes {
  const int = (name: string, fallback: number, min: number, max: number) => {
    if (raw[name] === undefined) return fallback;
    const n = Number(raw[name]);
    if (!Number.isInteger(n) || n < min || n > max)
      throw invalidParameter(`${name} must be an integer from ${min} to ${max}`);
    return n;
  };
  const attributes: QueueAttributes = {
    DelaySeconds: int("DelaySeconds", 0, 0, 900),
    VisibilityTimeout: int("VisibilityTimeout", 30, 0, 43200),
    MessageRetentionPeriod: int("MessageRetentionPeriod", 345600, 60, 1209600),
    ReceiveMessageWaitTimeSeconds: int("ReceiveMessageWaitTimeSeconds", 0, 0, 20),
  };
  if (raw.RedrivePolicy) {
    let policy: { deadLetterTargetArn?: unknown; maxReceiveCount?: unknown };
    try {
      policy = JSON.parse(raw.RedrivePolicy) as typeof policy;
    } catch {
      throw invalidParameter("RedrivePolicy must be JSON");
    }
    const count = Number(policy.maxReceiveCount);
    if (typeof policy.deadLetterTargetArn !== "string" || !Number.isInteger(count) || count < 1 || count > 1000)
      throw invalidParameter("RedrivePolicy needs deadLetterTargetArn and a maxReceiveCount from 1 to 1000");
    attributes.RedrivePolicy = { deadLetterTargetArn: policy.deadLetterTargetArn, maxReceiveCount: count };
  }
  return attributes;
}

function pickGiven(attributes: QueueAttributes, raw: Record<string, string>): Partial<QueueAttributes> {
  return Object.fromEntries(Object.entries(attributes).filter(([k]) => raw[k] !== undefined));
}
