/**
 * The audit's failures people must tell apart (docs/audit.md "Exit status"): findings at
 * or above `--fail-on`, and a git hook that is someone else's.
 */
import { ToolError } from "../internal/errors.js"

/** The audit found something at or above `--fail-on` (the report was printed first). */
export class AuditFindingsError extends ToolError {}

/** A different pre-commit hook is already installed; coffer does not overwrite it. */
export class HookExistsError extends ToolError {}
