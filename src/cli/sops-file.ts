/**
 * What the sops file commands share (docs/formats/sops.md "Commands"): Go-style flags that may also
 * follow the file name (`coffer decrypt app.yaml --extract '["a"]'`) and `--help`, the
 * positional arguments, choosing the input and output stores, reading the file, and
 * writing the result to standard output, `--output FILE` or back in place (`-i`,
 * atomically).
 */
import type { CliContext } from "./command.js"
import { versionLine } from "./help.js"
import { flagIsSet, parseFlags, flagValue, type FlagSpec, type ParsedFlags } from "./flags.js"
import { UsageError } from "../internal/errors.js"
import type { OpenedFile } from "../sops/index.js"
import type { Store, StoreFormat } from "../sops/stores/index.js"
import { formatForPath, storeForFormat } from "../sops/stores/index.js"
import type { WorkflowIo } from "../workflows/io.js"
import { openSopsFile, readInputFile } from "../workflows/sops-session.js"
import { systemWorkflowIo } from "../workflows/system-io.js"

/** Where the result goes. */
export type Destination =
  | { readonly kind: "stdout" }
  | { readonly kind: "file"; readonly path: string }
  | { readonly kind: "in-place"; readonly path: string }

/**
 * Parses flags placed before and after the positional arguments.
 * @returns the flags in order and every positional argument
 * @throws UsageError for an unknown flag or a missing value
 */
export function parseFlagsAnywhere(
  args: readonly string[],
  specs: readonly FlagSpec[],
  command: string,
): ParsedFlags {
  const occurrences: ParsedFlags["occurrences"][number][] = []
  const positionals: string[] = []
  let help = false
  let version = false
  let rest = args
  for (;;) {
    const parsed = parseFlags(rest, specs, command, { version: true })
    occurrences.push(...parsed.occurrences)
    help ||= parsed.help
    version ||= parsed.version
    const [first, ...after] = parsed.positionals
    if (first === undefined) break
    // `--` ends flag parsing: everything after it is positional.
    const consumed = rest.length - parsed.positionals.length
    if (rest[consumed - 1] === "--") {
      positionals.push(...parsed.positionals)
      break
    }
    positionals.push(first)
    rest = after
  }
  return { occurrences, positionals, help, version }
}

/**
 * Parses a command's arguments (flags anywhere, as `parseFlagsAnywhere`); with `--help`,
 * prints the help instead, and with `--version` the version.
 * @param helpText the command's help, given how it was invoked
 * @returns the flags and positional arguments, or undefined when the help was printed
 * @throws UsageError for an unknown flag or a missing value
 */
export function parseCommandLine(
  args: readonly string[],
  specs: readonly FlagSpec[],
  ctx: CliContext,
  helpText: (invokedAs: string) => string,
): ParsedFlags | undefined {
  const parsed = parseFlagsAnywhere(args, specs, ctx.invokedAs)
  if (parsed.help) {
    ctx.stdout.write(helpText(ctx.invokedAs))
    return undefined
  }
  if (parsed.version) {
    ctx.stdout.write(versionLine())
    return undefined
  }
  return parsed
}

/**
 * Exactly the positional arguments `names` (`FILE COMMAND`).
 * @param hint what to do instead (default: see the help)
 * @returns one string for each name
 * @throws UsageError when there are fewer or more
 */
export function exactPositionals<const Names extends readonly string[]>(
  parsed: ParsedFlags,
  names: Names,
  command: string,
  hint = `run "${command} --help" for examples`,
): { readonly [I in keyof Names]: string } {
  if (parsed.positionals.length !== names.length) {
    throw new UsageError(
      `${command} takes ${names.join(" ")}, got ${String(parsed.positionals.length)} arguments`,
      { hints: [hint] },
    )
  }
  return parsed.positionals as unknown as { readonly [I in keyof Names]: string }
}

/**
 * The one FILE argument of a command.
 * @throws UsageError when there is none or more than one
 */
export function singleFile(parsed: ParsedFlags, command: string): string {
  const [file, ...extra] = parsed.positionals
  if (file === undefined) {
    throw new UsageError(`${command} needs a FILE`, {
      hints: [`run "${command} --help" for examples`],
    })
  }
  if (extra.length > 0) {
    // `coffer decrypt -i key.txt secret.yaml`: age's -i (identity) typed to a sops command
    const inPlaceAsIdentity =
      extra.length === 1 &&
      parsed.occurrences.some((o) => o.key === "inPlace" && o.spelling === "-i")
    throw new UsageError(`${command} takes one FILE, got ${String(parsed.positionals.length)}`, {
      hints: inPlaceAsIdentity
        ? [
            `-i means --in-place for the sops commands (as in sops), not an identity file as in age`,
            `to decrypt with an age key file, set SOPS_AGE_KEY_FILE: SOPS_AGE_KEY_FILE=${file} ${command} ${extra[0] ?? "FILE"}`,
          ]
        : ["run the command once per file"],
    })
  }
  return file
}

/**
 * The input format: `--input-type`, else the file's suffix (`.yaml`/`.yml`, `.json`,
 * `.env`, `.ini`, else binary).
 * @throws UsageError for an unknown format name
 */
export function chooseInputStore(parsed: ParsedFlags, file: string): Store {
  return storeForFormat(flagValue(parsed, "inputType") ?? formatForPath(file), { fileName: file })
}

/**
 * The input and output formats: `--input-type`/`--output-type`, else the file's suffix
 * (`.yaml`/`.yml`, `.json`, `.env`, `.ini`, else binary); the output defaults to the input's.
 * @throws UsageError for an unknown format name
 */
export function chooseStores(
  parsed: ParsedFlags,
  file: string,
): { readonly input: Store; readonly output: Store; readonly inputFormat: StoreFormat } {
  const input = chooseInputStore(parsed, file)
  const output = storeForFormat(flagValue(parsed, "outputType") ?? input.format, { fileName: file })
  return { input, output, inputFormat: input.format }
}

/**
 * Where the result goes: `-i` (in place), `--output FILE`, else standard output.
 * @throws UsageError when both `-i` and `--output` are given
 */
export function chooseDestination(
  parsed: ParsedFlags,
  file: string,
  inPlace: boolean,
): Destination {
  const output = flagValue(parsed, "output")
  if (inPlace && output !== undefined) {
    throw new UsageError("--in-place and --output can't be used together", {
      hints: ["-i rewrites FILE itself; --output writes somewhere else"],
    })
  }
  if (inPlace) return { kind: "in-place", path: file }
  if (output !== undefined && output !== "-") return { kind: "file", path: output }
  return { kind: "stdout" }
}

/**
 * The effects of this machine for a command's workflows: the command's environment, the
 * working directory, warnings on stderr, prompts on the terminal.
 * @returns the io
 */
export function commandIo(ctx: CliContext): WorkflowIo {
  return systemWorkflowIo({
    env: ctx.env,
    warn: (message) => {
      ctx.warn(message)
    },
  })
}

/**
 * Reads and opens a command's FILE (`openSopsFile`), in the format of `--input-type` (else
 * FILE's suffix), checking the MAC unless `--ignore-mac`.
 * @param parsed the command's flags
 * @param file the file
 * @param io the command's effects
 * @returns the opened file: close it with `closeFile`
 * @throws UsageError, IoError, and as `openSopsFile`
 */
export async function openInputFile(
  parsed: ParsedFlags,
  file: string,
  io: WorkflowIo,
): Promise<OpenedFile> {
  const store = chooseInputStore(parsed, file)
  const text = await readInputFile(io, file)
  return openSopsFile(text, store, file, io, flagIsSet(parsed, "ignoreMac"))
}

/**
 * Writes the result, text or exact bytes. Files (in place or `--output`) are replaced
 * atomically with a temp file and a rename; a new `--output` file gets mode 0600, an
 * existing one keeps its mode, unless `plaintext` is set: then an `--output` file is 0600
 * in every case and a symbolic link there is refused.
 * @param options.plaintext the content is decrypted plaintext (`decrypt`)
 * @throws IoError naming the file
 */
export async function writeResult(
  destination: Destination,
  content: string | Uint8Array,
  ctx: CliContext,
  io: Pick<WorkflowIo, "replaceFile">,
  options: { readonly plaintext?: boolean } = {},
): Promise<void> {
  switch (destination.kind) {
    case "stdout":
      await new Promise<void>((resolve, reject) => {
        ctx.stdout.write(content, (err) => {
          if (err) reject(err)
          else resolve()
        })
      })
      return
    case "file":
      await io.replaceFile(
        destination.path,
        content,
        0o600,
        options.plaintext === true ? { plaintext: true } : {},
      )
      return
    case "in-place":
      await io.replaceFile(destination.path, content)
      return
    default: {
      const never: never = destination
      return never
    }
  }
}
