/**
 * The local stack in a process of its own, for the sustained-load run, so that its RSS is the
 * stack's alone (the load and the agents stay in the bench's process; DynamoDB Local is a JVM of
 * its own anyway). Prints `stack <endpoints as JSON>` once it is up; stops when stdin ends.
 */
import { startLocalStack } from "../../infra/local/stack.js";

const { stop, ...endpoints } = await startLocalStack({ stage: "sustained" });
process.stdout.write(`stack ${JSON.stringify(endpoints)}\n`);
process.stdin.resume();
process.stdin.on("end", () => {
  void stop().finally(() => process.exit(0));
});
