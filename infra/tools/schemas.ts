import * as z from "zod";
import { AgentMessage, configJsonSchema, ErrorMessage, InstructionMessage, UpgradeMessage } from "../../core/index.js";

const protocol = (schema: z.ZodType, title: string) => ({
  ...z.toJSONSchema(schema, { io: "input", unrepresentable: "any" }),
  title,
});

/** Every generated schema file, by its path in the repository. */
export function schemaFiles(): Record<string, Record<string, unknown>> {
  return {
    "schemas/config.schema.json": configJsonSchema(),
    "schemas/agent-protocol/agent-message.schema.json": protocol(AgentMessage, "Slipway agent → server message"),
    "schemas/agent-protocol/instruction.schema.json": protocol(
      InstructionMessage,
      "Slipway server → agent instruction",
    ),
    "schemas/agent-protocol/error.schema.json": protocol(ErrorMessage, "Slipway server → agent error"),
    "schemas/agent-protocol/upgrade.schema.json": protocol(UpgradeMessage, "Slipway server → agent upgrade request"),
  };
}
