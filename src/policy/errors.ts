/**
 * One error class per policy failure people must tell apart (docs/formats/sops.md ".sops.yaml",
 * docs/conventions.md "Errors"): a `.sops.yaml` that does not parse or has a wrong field, a
 * `path_regex` that is not valid RE2, and a file that no creation rule matches.
 */
import { ToolError } from "../internal/errors.js"

/** `.sops.yaml` is not valid YAML or a field has the wrong shape; names the file and line. */
export class ConfigError extends ToolError {}

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
