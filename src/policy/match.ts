/**
 * Choosing a file's creation rule with sops's exact semantics (docs/formats/sops.md ".sops.yaml";
 * `config/config.go` `parseCreationRuleForFile`):
 *
 * - the file's path is made absolute (against the working directory, like Go's
 *   `filepath.Abs`: cleaned, symlinks not resolved), then the config file's absolute
 *   directory plus a separator is stripped from its front when present; a file outside that
 *   directory keeps its absolute path;
 * - rules are tried in order and the first match wins; a rule without `path_regex` matches
 *   every file; the pattern is a Go (RE2) regular expression, unanchored;
 * - no match is an error (`NoMatchingRuleError`) naming the path tried and every pattern.
 *
 * Go's RE2 syntax is translated to a JavaScript `RegExp` (`compileGoRegex`): the two agree
 * on ordinary patterns, but RE2 has `(?P<name>…)`, `\A`, `\z`, `\Q…\E`, POSIX classes such
 * as `[[:alpha:]]` and a literal `]` first in a class, and it has no lookaround or
 * backreferences. What cannot be translated faithfully is refused with `PathRegexError`
 * rather than matched differently.
 */
import { dirname, resolve, sep } from "node:path"
import type { CreationRule, SopsConfig } from "./config.js"
import { ConfigNotFoundError, NoMatchingRuleError, PathRegexError } from "./errors.js"

/** The rule chosen for a file. */
export interface RuleMatch {
  readonly rule: CreationRule
  /** The path string the rule's pattern was matched against. */
  readonly matchedPath: string
}

const POSIX_CLASSES: Readonly<Record<string, string>> = {
  alnum: "0-9A-Za-z",
  alpha: "A-Za-z",
  ascii: "\\x00-\\x7F",
  blank: "\\t ",
  cntrl: "\\x00-\\x1F\\x7F",
  digit: "0-9",
  graph: "!-~",
  lower: "a-z",
  print: " -~",
  punct: "!-\\/:-@\\[-`{-~",
  space: "\\t\\n\\v\\f\\r ",
  upper: "A-Z",
  word: "0-9A-Za-z_",
  xdigit: "0-9A-Fa-f",
}

function escapeLiteral(text: string): string {
  return text.replace(/[\\^$.*+?()[\]{}|/-]/g, "\\$&")
}

/**
 * Translates a Go (RE2) regular expression to a JavaScript `RegExp` with the same matches.
 * @param pattern the Go pattern (as written in `path_regex`)
 * @returns the compiled expression (unanchored, like Go's `MatchString`)
 * @throws PathRegexError for invalid patterns and RE2 features JavaScript cannot express
 *   here (`\p{…}` classes, flag groups after the start, ungreedy mode)
 */
export function compileGoRegex(pattern: string): RegExp {
  const unsupported = (what: string, hint: string): PathRegexError =>
    new PathRegexError(`path_regex ${JSON.stringify(pattern)}: ${what}`, { hints: [hint] })
  let flags = ""
  let i = 0
  const leading = /^\(\?([imsU]+)\)/.exec(pattern)
  if (leading !== null) {
    const given = leading[1] ?? ""
    if (given.includes("U")) {
      throw unsupported(
        "the ungreedy flag U is not supported",
        "write lazy quantifiers (*?, +?) instead",
      )
    }
    flags = [...new Set(given)].join("")
    i = leading[0].length
  }
  let out = ""
  let inClass = false
  while (i < pattern.length) {
    const c = pattern.charAt(i)
    if (c === "\\") {
      const next = pattern.charAt(i + 1)
      if (next === "") throw unsupported("trailing backslash", "escape a backslash as \\\\")
      if (next === "Q") {
        const end = pattern.indexOf("\\E", i + 2)
        const literal = pattern.slice(i + 2, end === -1 ? undefined : end)
        out += inClass ? literal.replace(/[\\\]^-]/g, "\\$&") : escapeLiteral(literal)
        i = end === -1 ? pattern.length : end + 2
        continue
      }
      if (!inClass && next === "A") {
        out += "(?<![\\s\\S])"
        i += 2
        continue
      }
      if (!inClass && next === "z") {
        out += "(?![\\s\\S])"
        i += 2
        continue
      }
      if (/[1-9]/.test(next)) {
        throw unsupported(
          "backreferences are not part of Go's regular expressions",
          "sops rejects this pattern too; match the repeated text explicitly",
        )
      }
      if (next === "p" || next === "P") {
        throw unsupported(
          "Unicode classes (\\p{…}) are not supported by coffer",
          "use an explicit character range",
        )
      }
      if (next === "C") throw unsupported("\\C is not supported", "use . instead")
      if (next === "x" && pattern.charAt(i + 2) === "{") {
        const end = pattern.indexOf("}", i + 3)
        const hex = end === -1 ? "" : pattern.slice(i + 3, end)
        const code = Number.parseInt(hex, 16)
        if (!/^[0-9A-Fa-f]{1,6}$/.test(hex) || code > 0xffff) {
          throw unsupported("invalid or non-BMP \\x{…} escape", "write the character itself")
        }
        out += `\\u${code.toString(16).padStart(4, "0")}`
        i = end + 1
        continue
      }
      out += c + next
      i += 2
      continue
    }
    if (inClass) {
      if (c === "[" && pattern.charAt(i + 1) === ":") {
        const end = pattern.indexOf(":]", i + 2)
        const name = end === -1 ? undefined : pattern.slice(i + 2, end)
        if (name !== undefined && name.startsWith("^")) {
          throw unsupported(
            "negated POSIX classes ([:^name:]) are not supported",
            "negate the whole class with [^…]",
          )
        }
        const range = name === undefined ? undefined : POSIX_CLASSES[name]
        if (range === undefined) {
          throw unsupported(
            `unknown POSIX class ${pattern.slice(i, end === -1 ? undefined : end + 2)}`,
            `known classes: ${Object.keys(POSIX_CLASSES).join(", ")}`,
          )
        }
        out += range
        i = end + 2
        continue
      }
      if (c === "[") {
        out += "\\["
        i += 1
        continue
      }
      if (c === "]") inClass = false
      out += c
      i += 1
      continue
    }
    if (c === "[") {
      inClass = true
      out += "["
      i += 1
      if (pattern.charAt(i) === "^") {
        out += "^"
        i += 1
      }
      // spec (RE2): a "]" right after "[" or "[^" is a literal, where JS would end the class
      if (pattern.charAt(i) === "]") {
        out += "\\]"
        i += 1
      }
      continue
    }
    if (c === "(" && pattern.charAt(i + 1) === "?") {
      const rest = pattern.slice(i + 2)
      if (rest.startsWith("P<")) {
        out += "(?<"
        i += 4
        continue
      }
      if (rest.startsWith(":") || (rest.startsWith("<") && !/^<[=!]/.test(rest))) {
        out += "(?"
        i += 2
        continue
      }
      if (/^(<?[=!])/.test(rest)) {
        throw unsupported(
          "lookahead and lookbehind are not part of Go's regular expressions",
          "sops rejects this pattern too; rules are tried in order, so put a more specific rule first instead",
        )
      }
      throw unsupported(
        "flag groups are only supported at the start of the pattern, e.g. (?i)secrets/",
        "move the flags to the start of the pattern",
      )
    }
    out += c
    i += 1
  }
  try {
    return new RegExp(out, flags)
  } catch (cause) {
    throw new PathRegexError(
      `path_regex ${JSON.stringify(pattern)} is not a valid regular expression`,
      {
        cause,
        hints: ["path_regex is a Go (RE2) regular expression, e.g. secrets/dao/[^/]+\\.yaml$"],
      },
    )
  }
}

/**
 * The path string sops matches a file's rules against.
 * @param file the file as given on the command line (relative to `cwd`, or absolute)
 * @param configPath the config file's path (relative to `cwd`, or absolute)
 * @param cwd the working directory (absolute)
 * @returns the file's path relative to the config's directory, or its absolute path when
 *   it lies outside that directory
 */
export function rulePathFor(file: string, configPath: string, cwd: string): string {
  const absolute = resolve(cwd, file)
  const configDir = dirname(resolve(cwd, configPath))
  // spec: strings.TrimPrefix(filePath, configDir + separator); "/" + "/" never matches
  const prefix = configDir + sep
  return absolute.startsWith(prefix) ? absolute.slice(prefix.length) : absolute
}

function describeRule(rule: CreationRule): string {
  const where = rule.line === undefined ? "" : ` (line ${String(rule.line)})`
  return rule.pathRegex === ""
    ? `rule ${String(rule.index + 1)}${where}: no path_regex`
    : `rule ${String(rule.index + 1)}${where}: ${rule.pathRegex}`
}

/**
 * Finds the first creation rule whose `path_regex` matches a file.
 * @param config the parsed `.sops.yaml`
 * @param file the file as given on the command line (or `--filename-override`)
 * @param cwd the working directory (absolute)
 * @returns the rule and the path string it was matched against
 * @throws ConfigNotFoundError when the config has no `creation_rules`;
 *   PathRegexError for a pattern tried before a match that is not valid;
 *   NoMatchingRuleError naming the path tried, with every pattern in the hints
 */
export function matchCreationRule(config: SopsConfig, file: string, cwd: string): RuleMatch {
  const rules = config.creationRules
  if (rules === undefined) {
    const others = config.otherTopLevelKeys
    throw new ConfigNotFoundError(`${JSON.stringify(config.path)} has no creation_rules`, {
      hints: [
        ...(others.length > 0
          ? [
              `its top-level keys are ${others.map((k) => JSON.stringify(k)).join(", ")}: sops reads only creation_rules, destination_rules and stores (other keys may hold anchors)`,
            ]
          : []),
        "add a creation_rules list with a path_regex and keys, or pass --age/--pgp",
      ],
    })
  }
  const matchedPath = rulePathFor(file, config.path, cwd)
  for (const rule of rules) {
    if (rule.pathRegex === "") return { rule, matchedPath }
    let regex: RegExp
    try {
      regex = compileGoRegex(rule.pathRegex)
    } catch (e) {
      if (!(e instanceof PathRegexError)) throw e
      throw new PathRegexError(
        `${JSON.stringify(config.path)}${rule.line === undefined ? "" : ` line ${String(rule.line)}`}: creation rule ${String(rule.index + 1)}: ${e.message}`,
        { hints: e.hints, cause: e },
      )
    }
    if (regex.test(matchedPath)) return { rule, matchedPath }
  }
  const configDir = dirname(resolve(cwd, config.path))
  throw new NoMatchingRuleError(
    matchedPath,
    `no creation rule in ${JSON.stringify(config.path)} matches ${JSON.stringify(matchedPath)}`,
    {
      hints: [
        rules.length === 0
          ? "creation_rules is empty"
          : `rules are tried in order; patterns were ${rules.map(describeRule).join("; ")}`,
        matchedPath.startsWith("/")
          ? `the file is outside ${configDir}, so its absolute path was matched`
          : `the path matched is relative to the config file's directory ${configDir}`,
      ],
    },
  )
}
