import { Argument, type Command } from "commander";
import { bashCompletion, zshCompletion } from "../completion.js";
import { withExamples } from "../kit.js";
import { print } from "../output.js";

/** `slipway completion bash|zsh`: the completion script, for the shell to load. */
export function registerCompletionCommand(program: Command): void {
  withExamples(
    program
      .command("completion")
      .description("Print the shell completion script for bash or zsh")
      .addArgument(new Argument("<shell>", "the shell").choices(["bash", "zsh"])),
    [
      "source <(slipway completion bash)          # in ~/.bashrc",
      "source <(slipway completion zsh)           # in ~/.zshrc, after compinit",
      'slipway completion zsh > "${fpath[1]}/_slipway"',
    ],
  ).action((shell: "bash" | "zsh") => {
    print(shell === "bash" ? bashCompletion(program) : zshCompletion(program));
  });
}
