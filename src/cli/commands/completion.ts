/**
 * `coffer completion bash|zsh|fish`: prints a shell completion script (docs/goals.md
 * "Capabilities").
 *
 * The scripts are generated from one table, so they follow the commands: the dispatcher's
 * command list (`command-table.ts`, given as `ctx.commandTable`) and each command's flags,
 * taken from its exported `flagSpecs` (and `subcommands`) when it has them, else from the
 * flag lines of its `--help` text. Flags complete after a `-`; everything else completes
 * file names.
 */
import { Writable } from "node:stream"
import type { CliContext, CommandListing, CommandModule } from "../command.js"
import type { ExitCode } from "../exit-codes.js"
import type { FlagSpec } from "../flags.js"
import { UsageError } from "../../internal/errors.js"

/** The shells `coffer completion` writes scripts for (also read by completion itself). */
export const subcommands: readonly string[] = ["bash", "zsh", "fish"]

/** One command as the completion scripts see it. */
export interface CompletionEntry {
  readonly name: string
  readonly summary: string
  /** Flags as typed (`-i`, `--in-place`), without `--help`. */
  readonly flags: readonly string[]
  /** Subcommands (`groups add`), if any. */
  readonly subcommands: readonly string[]
}

function helpText(invokedAs: string): string {
  return `Usage:
    ${invokedAs} bash|zsh|fish

Prints a completion script for every coffer command and its flags.

Examples:
    $ source <(${invokedAs} bash)                      # bash, this session
    $ ${invokedAs} bash > ~/.local/share/bash-completion/completions/coffer
    $ ${invokedAs} zsh > "\${fpath[1]}/_coffer"
    $ ${invokedAs} fish > ~/.config/fish/completions/coffer.fish
`
}

/**
 * Runs `coffer completion`.
 * @throws UsageError for a missing or unknown shell
 */
export async function run(args: readonly string[], ctx: CliContext): Promise<ExitCode | undefined> {
  const [shell, ...extra] = args
  if (shell === "-h" || shell === "--help" || shell === "-help") {
    ctx.stdout.write(helpText(ctx.invokedAs))
    return undefined
  }
  if (shell === undefined || !subcommands.includes(shell) || extra.length > 0) {
    throw new UsageError(
      shell === undefined
        ? `${ctx.invokedAs} needs a shell`
        : `unknown shell ${JSON.stringify(shell)}`,
      { hints: [`use ${ctx.invokedAs} bash, zsh or fish`] },
    )
  }
  const entries = await completionTable(ctx.commandTable())
  const script =
    shell === "bash"
      ? bashScript(entries)
      : shell === "zsh"
        ? zshScript(entries)
        : fishScript(entries)
  ctx.stdout.write(script)
  return undefined
}

/**
 * Every command with its flags and subcommands, from the dispatcher's table.
 * @param commands the table, in help order
 * @returns the entries, in help order
 */
export async function completionTable(
  commands: readonly CommandListing[],
): Promise<CompletionEntry[]> {
  const entries: CompletionEntry[] = []
  for (const command of commands) {
    const module = await command.load()
    const exported = module as CommandModule & {
      readonly flagSpecs?: readonly FlagSpec[]
      readonly subcommands?: readonly string[]
    }
    const flags =
      exported.flagSpecs !== undefined
        ? exported.flagSpecs.flatMap((f) =>
            f.names.map((n) => (n.length === 1 ? `-${n}` : `--${n}`)),
          )
        : await flagsFromHelp(module, command.name, commands)
    entries.push({
      name: command.name,
      summary: command.summary,
      flags: [...new Set([...flags, "--help"])],
      subcommands: command.name === "completion" ? subcommands : (exported.subcommands ?? []),
    })
  }
  return entries
}

/** The flags on the flag lines (indented lines starting with `-`) of a command's help. */
async function flagsFromHelp(
  module: CommandModule,
  name: string,
  commands: readonly CommandListing[],
): Promise<string[]> {
  const chunks: Buffer[] = []
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      chunks.push(chunk)
      done()
    },
  })
  const stream = sink as unknown as NodeJS.WriteStream
  const ctx: CliContext = {
    invokedAs: `coffer ${name}`,
    env: {},
    stdin: process.stdin,
    stdout: stream,
    stderr: stream,
    warn: () => undefined,
    note: () => undefined,
    commandTable: () => commands,
    reportErrorsAsJson: () => undefined,
  }
  try {
    await module.run(["--help"], ctx)
  } catch {
    // a command whose help can't be printed this way: complete its name only
  }
  const text = Buffer.concat(chunks).toString("utf8")
  const flags: string[] = []
  for (const line of text.split("\n")) {
    if (!/^\s+-/.test(line)) continue
    // the flag part ends at the first gap of two spaces (the description)
    const head = line.trim().split(/\s{2,}/)[0] ?? ""
    for (const m of head.matchAll(/(?:^|[\s,])(--?[A-Za-z][\w-]*)/g))
      if (m[1] !== undefined) flags.push(m[1])
  }
  return flags
}

function words(list: readonly string[]): string {
  return list.join(" ")
}

function bashScript(entries: readonly CompletionEntry[]): string {
  const cases = entries
    .map((e) => `        ${e.name}) flags="${words(e.flags)}"; subs="${words(e.subcommands)}" ;;`)
    .join("\n")
  const age = entries.find((e) => e.name === "age")
  const keygen = entries.find((e) => e.name === "age-keygen")
  return `# bash completion for coffer (generated by "coffer completion bash")
_coffer() {
    local cur="\${COMP_WORDS[COMP_CWORD]}"
    local command flags="" subs=""
    if [ "\${COMP_CWORD}" -eq 1 ]; then
        COMPREPLY=( $(compgen -W "${words(entries.map((e) => e.name))} --help --version" -- "$cur") )
        return 0
    fi
    command="\${COMP_WORDS[1]}"
    case "$command" in
${cases}
    esac
    if [ "\${COMP_CWORD}" -eq 2 ] && [ -n "$subs" ] && [[ "$cur" != -* ]]; then
        COMPREPLY=( $(compgen -W "$subs" -- "$cur") )
    elif [[ "$cur" == -* ]]; then
        COMPREPLY=( $(compgen -W "$flags" -- "$cur") )
    else
        COMPREPLY=( $(compgen -f -- "$cur") )
    fi
    return 0
}
_coffer_age() {
    local cur="\${COMP_WORDS[COMP_CWORD]}"
    if [[ "$cur" == -* ]]; then COMPREPLY=( $(compgen -W "${words(age?.flags ?? [])}" -- "$cur") ); else COMPREPLY=( $(compgen -f -- "$cur") ); fi
}
_coffer_age_keygen() {
    local cur="\${COMP_WORDS[COMP_CWORD]}"
    if [[ "$cur" == -* ]]; then COMPREPLY=( $(compgen -W "${words(keygen?.flags ?? [])}" -- "$cur") ); else COMPREPLY=( $(compgen -f -- "$cur") ); fi
}
complete -o filenames -o bashdefault -F _coffer coffer
complete -o filenames -o bashdefault -F _coffer_age coffer-age
complete -o filenames -o bashdefault -F _coffer_age_keygen coffer-age-keygen
`
}

function zshQuote(text: string): string {
  return `'${text.replace(/'/g, `'\\''`)}'`
}

function zshScript(entries: readonly CompletionEntry[]): string {
  const described = entries
    .map((e) => `        ${zshQuote(`${e.name}:${e.summary.replace(/:/g, "\\:")}`)}`)
    .join("\n")
  const cases = entries
    .map((e) => `        (${e.name}) flags=(${words(e.flags)}); subs=(${words(e.subcommands)}) ;;`)
    .join("\n")
  return `#compdef coffer coffer-age coffer-age-keygen
# zsh completion for coffer (generated by "coffer completion zsh")
_coffer() {
    local -a commands flags subs
    local command
    case $service in
        (coffer-age) command=age ;;
        (coffer-age-keygen) command=age-keygen ;;
        (*)
            commands=(
${described}
            )
            if (( CURRENT == 2 )); then
                _describe -t commands 'coffer command' commands
                return
            fi
            command=$words[2] ;;
    esac
    case $command in
${cases}
    esac
    if (( CURRENT == 3 )) && (( \${#subs} > 0 )) && [[ $PREFIX != -* ]]; then
        compadd -- $subs
    elif [[ $PREFIX == -* ]]; then
        compadd -- $flags
    else
        _files
    fi
}
compdef _coffer coffer coffer-age coffer-age-keygen
`
}

function fishQuote(text: string): string {
  return `'${text.replace(/\\/g, "\\\\").replace(/'/g, "\\'")}'`
}

function fishFlag(command: string, condition: string, flag: string): string {
  const name = flag.replace(/^--?/, "")
  const option = flag.startsWith("--")
    ? `-l ${name}`
    : name.length === 1
      ? `-s ${name}`
      : `-o ${name}`
  return `complete -c ${command} -n ${fishQuote(condition)} ${option}`
}

function fishScript(entries: readonly CompletionEntry[]): string {
  const lines = [
    `# fish completion for coffer (generated by "coffer completion fish")`,
    `complete -c coffer -f -n '__fish_use_subcommand' -l help -d 'help and examples'`,
    `complete -c coffer -f -n '__fish_use_subcommand' -l version -d 'print the version'`,
  ]
  for (const e of entries) {
    lines.push(
      `complete -c coffer -f -n '__fish_use_subcommand' -a ${e.name} -d ${fishQuote(e.summary)}`,
    )
    const seen = `__fish_seen_subcommand_from ${e.name}`
    for (const sub of e.subcommands)
      lines.push(`complete -c coffer -f -n ${fishQuote(seen)} -a ${sub}`)
    for (const flag of e.flags) lines.push(fishFlag("coffer", seen, flag))
    if (e.name === "age" || e.name === "age-keygen") {
      const program = e.name === "age" ? "coffer-age" : "coffer-age-keygen"
      for (const flag of e.flags) lines.push(fishFlag(program, "true", flag))
    }
  }
  return `${lines.join("\n")}\n`
}
