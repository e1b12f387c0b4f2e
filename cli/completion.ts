import type { Command } from "commander";

/**
 * Shell completion, generated from the command tree itself, so a new command or flag completes
 * without anyone touching this file. The script walks the words typed so far to the command they
 * name (skipping flags and their values), then offers that command's subcommands, flags, or the
 * values a flag or argument takes (`-o` → table json yaml; `-f` → files).
 */

type Node = {
  path: string;
  commands: { name: string; description: string }[];
  options: string[];
  valued: string[];
  files: string[];
  choices: { flags: string[]; values: string[] }[];
  args: string[];
};

/** Flags whose value is a path. */
const FILE_OPTIONS = new Set(["--filename"]);

function nodes(program: Command): Node[] {
  // Global flags work after any command; --version only on its own.
  const globals = program.options.filter((o) => o.long !== "--version");
  const out: Node[] = [];
  const visit = (cmd: Command, path: string) => {
    const options = cmd === program ? cmd.options : [...cmd.options, ...globals];
    const flagsOf = (o: (typeof options)[number]) => [o.short, o.long].filter((f): f is string => Boolean(f));
    const commands = cmd.commands.filter((c) => !(c as unknown as { _hidden?: boolean })._hidden);
    out.push({
      path,
      commands: commands.map((c) => ({
        name: c.name(),
        // The summary, where the command has one: a line for a menu, not the whole help text.
        description: (c.summary() || c.description()).split(/[.;:(]/)[0]!.trim(),
      })),
      options: [...options.flatMap(flagsOf), "--help"],
      valued: options.filter((o) => o.required || o.optional).flatMap(flagsOf),
      files: options.filter((o) => o.long && FILE_OPTIONS.has(o.long)).flatMap(flagsOf),
      choices: options.filter((o) => o.argChoices?.length).map((o) => ({ flags: flagsOf(o), values: o.argChoices! })),
      args: cmd.registeredArguments[0]?.argChoices ?? [],
    });
    for (const c of commands) visit(c, `${path} ${c.name()}`);
  };
  visit(program, program.name());
  return out;
}

const quote = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;

/** `case` functions both shells read alike: a node's commands, flags, flag values, arguments. */
function lookupFunctions(prefix: string, all: Node[]): string {
  const fn = (name: string, body: (n: Node) => string | undefined) => {
    const cases = all
      .map((n) => [n.path, body(n)] as const)
      .filter(([, v]) => v)
      .map(([path, v]) => `    ${quote(path)}) ${v} ;;`);
    return `${prefix}_${name}() {\n  case "$1" in\n${cases.join("\n")}\n  esac\n}`;
  };
  const words = (list: readonly string[]) => (list.length ? `echo ${quote(list.join(" "))}` : undefined);
  return [
    fn("commands", (n) => words(n.commands.map((c) => c.name))),
    fn("described", (n) =>
      n.commands.length
        ? `printf '%s\\n' ${n.commands.map((c) => quote(`${c.name.replace(/:/g, "\\:")}:${c.description}`)).join(" ")}`
        : undefined,
    ),
    fn("options", (n) => words(n.options)),
    fn("valued", (n) => words(n.valued)),
    fn("files", (n) => words(n.files)),
    fn("args", (n) => words(n.args)),
    // Values of a flag: "$1" is the command, "$2" the flag.
    `${prefix}_choices() {\n  case "$1|$2" in\n${all
      .flatMap((n) =>
        n.choices.flatMap((c) =>
          c.flags.map((f) => `    ${quote(`${n.path}|${f}`)}) echo ${quote(c.values.join(" "))} ;;`),
        ),
      )
      .join("\n")}\n  esac\n}`,
  ].join("\n\n");
}

/** The command the words typed so far name: shared by both scripts (bash and zsh read it alike). */
const walk = (
  root: string,
  prefix: string,
  words: string,
  from: string,
  to: string,
) => `  local node=${quote(root)} skip="" w i
  for ((i = ${from}; i < ${to}; i++)); do
    w="\${${words}[i]}"
    if [[ -n $skip ]]; then skip=""; continue; fi
    case "$w" in
      -*) [[ " $(${prefix}_valued "$node") " == *" $w "* ]] && skip=1 ;;
      *) [[ " $(${prefix}_commands "$node") " == *" $w "* ]] && node="$node $w" ;;
    esac
  done`;

export function bashCompletion(program: Command): string {
  const p = `_${program.name()}`;
  return `# bash completion for ${program.name()}: source <(${program.name()} completion bash)
${lookupFunctions(p, nodes(program))}

${p}() {
  local cur="\${COMP_WORDS[COMP_CWORD]}" prev="\${COMP_WORDS[COMP_CWORD-1]}"
${walk(program.name(), p, "COMP_WORDS", "1", "COMP_CWORD")}
  COMPREPLY=()
  if [[ " $(${p}_valued "$node") " == *" $prev "* ]]; then
    local choices; choices="$(${p}_choices "$node" "$prev")"
    if [[ -n $choices ]]; then
      COMPREPLY=($(compgen -W "$choices" -- "$cur"))
    elif [[ " $(${p}_files "$node") " == *" $prev "* ]]; then
      compopt -o filenames 2>/dev/null
      COMPREPLY=($(compgen -f -- "$cur"))
    fi
    return 0
  fi
  if [[ $cur == -* ]]; then
    COMPREPLY=($(compgen -W "$(${p}_options "$node")" -- "$cur"))
  else
    COMPREPLY=($(compgen -W "$(${p}_commands "$node") $(${p}_args "$node")" -- "$cur"))
  fi
  return 0
}
complete -F ${p} ${program.name()}
`;
}

export function zshCompletion(program: Command): string {
  const p = `_${program.name()}`;
  return `#compdef ${program.name()}
# zsh completion for ${program.name()}: source <(${program.name()} completion zsh) after compinit,
# or save it as _${program.name()} in a folder of $fpath.
${lookupFunctions(p, nodes(program))}

${p}() {
  local cur="\${words[CURRENT]}" prev="\${words[CURRENT-1]}"
${walk(program.name(), p, "words", "2", "CURRENT")}
  if [[ " $(${p}_valued "$node") " == *" $prev "* ]]; then
    local choices; choices="$(${p}_choices "$node" "$prev")"
    if [[ -n $choices ]]; then
      compadd -- \${=choices}
    elif [[ " $(${p}_files "$node") " == *" $prev "* ]]; then
      _files
    fi
    return
  fi
  if [[ $cur == -* ]]; then
    local options; options="$(${p}_options "$node")"
    compadd -- \${=options}
    return
  fi
  local -a described; described=("\${(@f)$(${p}_described "$node")}")
  (( \${#described[@]} )) && [[ -n \${described[1]} ]] && _describe 'command' described
  local args; args="$(${p}_args "$node")"
  [[ -n $args ]] && compadd -- \${=args}
}

if [[ \${zsh_eval_context[-1]} == loadautofunc ]]; then
  ${p} "$@"
else
  compdef ${p} ${program.name()}
fi
`;
}
