import { DynamoDBClient, type DynamoDBClientConfig } from "@aws-sdk/client-dynamodb";
import { DynamoDBDocumentClient } from "@aws-sdk/lib-dynamodb";

/**
 * The document client every adapter shares. On AWS it needs no settings; locally the stack points
 * the SDK at DynamoDB Local through the SDK's own `AWS_ENDPOINT_URL_DYNAMODB` variable, so this code
 * never asks whether it runs locally.
 */
export function documentClient(config: DynamoDBClientConfig = {}): DynamoDBDocumentClient {
  return DynamoDBDocumentClient.from(new DynamoDBClient(config), {
    marshallOptions: { removeUndefinedValues: true, convertClassInstanceToMap: false },
  });
}
