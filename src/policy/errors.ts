/**
 * One error class per policy failure people must tell apart (docs/formats/sops.md ".sops.yaml",
 * docs/conventions.md "Errors"): a `.sops.yaml` that does not parse or has a wrong field, a
 * `path_regex` that is not valid RE2, and a file that no creation rule matches.
 */
import { ToolError } from "../internal/errors.js"

/** `.sops.yaml` is not valid YAML or a field has the wrong shape; names the file and line. */
export class ConfigError extends ToolError {}

/**
 * `.sops.yaml` holds a key sops 3.13 does not know (`path_regx:`); sops would ignore it, so
 * the rule would not do what it says. Names the key and the nearest known one.
 */
export class UnknownConfigKeyError extends ConfigError {
  /** The unknown key. */
  readonly key: string
  /** The known key nearest to it, when one is close. */
  readonly nearest: string | undefined
  constructor(
    message: string,
    opts: {
      key: string
      nearest: string | undefined
      hints?: readonly string[]
      cause?: unknown
    },
  ) {
    super(message, opts)
    this.key = opts.key
    this.nearest = opts.nearest
  }
}

/** No `.sops.yaml` was found (or it has no `creation_rules`) where one is needed. */
export class ConfigNotFoundError extends ToolError {}

/** A `path_regex` is not valid Go (RE2) syntax, or uses RE2 syntax coffer cannot translate. */
export class PathRegexError extends ToolError {}

/**
 * No creation rule matches a file. The message names the path that was tried; the hints
 * list every rule's pattern in order.
 */
export class NoMatchingRuleError extends ToolError {
  /** The path string the patterns were matched against. */
  readonly matchedPath: string
  constructor(
    matchedPath: string,
    message: string,
    opts: { hints?: readonly string[]; cause?: unknown } = {},
  ) {
    super(message, opts)
    this.matchedPath = matchedPath
  }
}
