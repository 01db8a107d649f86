/**
 * Command-line flags parsed the way Go's `flag` package parses them, because `coffer age`
 * must accept every command line Go's `age` accepts (docs/formats/age.md "The age and
 * age-keygen command lines", docs/agenix.md "The age command lines agenix runs"): `-o x`,
 * `--output x`, `-o=x`, `--output=x`; one or two leading dashes are the same; short flags
 * are not bundled (`-pq` is one flag); parsing stops at the first positional argument, at
 * `--`, or at a lone `-` (which means standard input).
 */
import { UsageError } from "../internal/errors.js"
import { nearestName } from "../internal/nearest.js"

/** One flag: its names (without dashes) and whether it takes a value. */
export interface FlagSpec {
  /** The key results are stored under. */
  readonly key: string
  /** Accepted names without dashes, e.g. `["o", "output"]`; the first is shown in messages. */
  readonly names: readonly string[]
  /** `boolean` flags take no value (`-a`, or `-a=false`); `value` flags take one. */
  readonly kind: "boolean" | "value"
}

/** One flag as it appeared on the command line. */
export interface FlagOccurrence {
  readonly key: string
  /** The flag as typed, e.g. `--identity`. */
  readonly spelling: string
  /** The value (`"true"`/`"false"` for boolean flags). */
  readonly value: string
}

/** The parsed command line. */
export interface ParsedFlags {
  /** Every flag in order, so interleaved flags (`-i` and `-j`) keep their order. */
  readonly occurrences: readonly FlagOccurrence[]
  /** The arguments after the flags. */
  readonly positionals: readonly string[]
  /** Whether `-h`, `-help` or `--help` was given. */
  readonly help: boolean
  /**
   * Whether `--version` (or `-version`) was given, when accepted (`options.version`) and
   * the command has no `version` flag of its own: the command then prints coffer's version.
   */
  readonly version: boolean
}

/**
 * Parses `args` against `specs`.
 * @param command the command's name for messages (`coffer age`)
 * @param options.version accept `--version` (reported in `version`) when no spec has it
 * @returns the flags in order and the positional arguments
 * @throws UsageError for an unknown flag or a missing value
 */
export function parseFlags(
  args: readonly string[],
  specs: readonly FlagSpec[],
  command: string,
  options: { readonly version?: boolean } = {},
): ParsedFlags {
  const byName = new Map<string, FlagSpec>()
  for (const spec of specs) for (const name of spec.names) byName.set(name, spec)
  const occurrences: FlagOccurrence[] = []
  let help = false
  let version = false
  let i = 0
  while (i < args.length) {
    const arg = args[i] ?? ""
    if (arg === "--") {
      i += 1
      break
    }
    if (!arg.startsWith("-") || arg === "-") break
    const body = arg.startsWith("--") ? arg.slice(2) : arg.slice(1)
    const eq = body.indexOf("=")
    const name = eq === -1 ? body : body.slice(0, eq)
    const inline = eq === -1 ? undefined : body.slice(eq + 1)
    const spelling = arg.slice(0, arg.length - body.length) + name
    if (name === "h" || name === "help") {
      help = true
      i += 1
      continue
    }
    if (
      name === "version" &&
      options.version === true &&
      !byName.has(name) &&
      inline === undefined
    ) {
      version = true
      i += 1
      continue
    }
    const spec = byName.get(name)
    if (spec === undefined || name === "" || name.startsWith("-")) {
      const near = name === "" ? undefined : nearestName(name.replace(/^-+/, ""), byName.keys())
      throw new UsageError(`unknown flag ${JSON.stringify(spelling)}`, {
        hints: [
          ...(near === undefined ? [] : [`did you mean ${near.length === 1 ? "-" : "--"}${near}?`]),
          `run "${command} --help" for the flags it accepts`,
          ...(arg.length > 2 &&
          !arg.startsWith("--") &&
          arg
            .slice(1)
            .split("")
            .every((c) => byName.has(c))
            ? [
                `short flags can't be combined: write ${arg
                  .slice(1)
                  .split("")
                  .map((c) => `-${c}`)
                  .join(" ")}`,
              ]
            : []),
        ],
      })
    }
    if (spec.kind === "boolean") {
      let value = "true"
      if (inline !== undefined) {
        if (!["true", "false", "1", "0"].includes(inline)) {
          throw new UsageError(`flag ${spelling} takes no value (got ${JSON.stringify(inline)})`)
        }
        value = inline === "true" || inline === "1" ? "true" : "false"
      }
      occurrences.push({ key: spec.key, spelling, value })
      i += 1
      continue
    }
    if (inline !== undefined) {
      occurrences.push({ key: spec.key, spelling, value: inline })
      i += 1
      continue
    }
    const next = args[i + 1]
    if (next === undefined) {
      throw new UsageError(`flag ${spelling} needs a value`, {
        hints: [`run "${command} --help" for the flags it accepts`],
      })
    }
    occurrences.push({ key: spec.key, spelling, value: next })
    i += 2
  }
  return { occurrences, positionals: args.slice(i), help, version }
}

/** @returns whether the boolean flag `key` was set (its last occurrence wins) */
export function flagIsSet(parsed: ParsedFlags, key: string): boolean {
  let set = false
  for (const o of parsed.occurrences) if (o.key === key) set = o.value === "true"
  return set
}

/** @returns every value given for the flag `key`, in order */
export function flagValues(parsed: ParsedFlags, key: string): string[] {
  return parsed.occurrences.filter((o) => o.key === key).map((o) => o.value)
}

/** @returns the last value given for the flag `key`, or undefined */
export function flagValue(parsed: ParsedFlags, key: string): string | undefined {
  return flagValues(parsed, key).at(-1)
}
