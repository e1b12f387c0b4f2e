/** The agent speaks the protocol defined once, in core/ (see docs/agent-protocol.md). */
export { CURRENT_AGENT_VERSION, InstructionMessage, UpgradeMessage } from "../core/agent-protocol.js";
export type { InstructionPayload } from "../events/index.js";
