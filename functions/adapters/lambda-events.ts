import type {
  APIGatewayEventWebsocketRequestContextV2,
  APIGatewayProxyWebsocketEventV2,
  DynamoDBBatchResponse,
  DynamoDBStreamEvent,
  SQSBatchResponse,
  SQSEvent,
} from "aws-lambda";

/**
 * The Lambda event shapes Slipway's handlers receive, declared once from @types/aws-lambda. The
 * local stack builds the very same shapes (infra/local/), so a field the handlers read is a field
 * AWS sends.
 */

/**
 * An API Gateway WebSocket event. $connect also carries the handshake's headers, and $disconnect
 * why the connection closed — both sent by API Gateway, neither in @types/aws-lambda.
 */
export type AgentSocketEvent = Omit<APIGatewayProxyWebsocketEventV2, "requestContext"> & {
  requestContext: Omit<APIGatewayEventWebsocketRequestContextV2, "messageId"> & {
    messageId?: string;
    identity?: { sourceIp: string; userAgent?: string };
    disconnectStatusCode?: number;
    disconnectReason?: string;
  };
  headers?: Record<string, string | undefined>;
  multiValueHeaders?: Record<string, string[] | undefined>;
};
/** What a WebSocket route answers: a non-2xx status on $connect refuses the handshake. */
export type AgentSocketResult = { statusCode: number; body?: string };

export type StreamEvent = DynamoDBStreamEvent;
export type StreamBatchResponse = DynamoDBBatchResponse;
export type QueueEvent = SQSEvent;
export type QueueBatchResponse = SQSBatchResponse;
/** An item image in a stream record. The SDK's AttributeValue (marshall()) and Lambda's differ only in how TypeScript spells them. */
export type StreamImage = NonNullable<NonNullable<StreamEvent["Records"][number]["dynamodb"]>["NewImage"]>;
