/**
 * The failures of agenix compatibility (docs/agenix.md "The agenix command line"): the
 * rules file (`secrets.nix`) can't be evaluated or has the wrong shape, Nix is missing, or
 * a file has no rule.
 */
import { ToolError } from "../internal/errors.js"

/**
 * The rules file could not be read or evaluated, or it is not `{ "x.age".publicKeys =
 * [...]; }`.
 */
export class AgenixRulesError extends ToolError {}

/** `nix-instantiate` is not installed, so a `secrets.nix` can't be evaluated. */
export class NixNotFoundError extends ToolError {}

/** The file named on the command line has no entry in the rules file. */
export class NoAgenixRuleError extends ToolError {}
