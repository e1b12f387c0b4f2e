import {
  ApiGatewayManagementApiClient,
  DeleteConnectionCommand,
  GoneException,
  PostToConnectionCommand,
} from "@aws-sdk/client-apigatewaymanagementapi";

/** Sends messages to agents' WebSocket connections through the API Gateway Management API. */
export class AgentGateway {
  private readonly client: ApiGatewayManagementApiClient;

  constructor(managementEndpoint: string) {
    this.client = new ApiGatewayManagementApiClient({ endpoint: managementEndpoint });
  }

  /** `gone` when API Gateway no longer has the connection (410): the caller must not assume delivery. */
  async send(connectionId: string, message: unknown): Promise<"sent" | "gone"> {
    try {
      await this.client.send(
        new PostToConnectionCommand({ ConnectionId: connectionId, Data: Buffer.from(JSON.stringify(message)) }),
      );
      return "sent";
    } catch (err) {
      if (err instanceof GoneException) return "gone";
      throw err;
    }
  }

  /** Closes a connection; one that is already gone is no error. */
  async close(connectionId: string): Promise<void> {
    try {
      await this.client.send(new DeleteConnectionCommand({ ConnectionId: connectionId }));
    } catch (err) {
      if (!(err instanceof GoneException)) throw err;
    }
  }
}
