/**
 * The error base classes every domain builds on (docs/conventions.md "Errors").
 *
 * A `ToolError` is a failure a person can act on: a one-line, lowercase message naming the
 * thing (a path, a line, a recipient) and `hints` with the next step. Messages never carry
 * secrets. An `InternalError` is a broken invariant: the command line reports it as a bug.
 */

/** A failure the user can act on; `hints` say what to do next. */
export class ToolError extends Error {
  readonly hints: readonly string[]

  /**
   * @param message one line, lowercase, no final period, naming the thing that failed
   * @param opts.hints next steps, one sentence each
   * @param opts.cause the inner error, for chaining
   */
  constructor(message: string, opts: { hints?: readonly string[]; cause?: unknown } = {}) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause })
    this.name = new.target.name
    this.hints = opts.hints ?? []
  }
}

/** A broken invariant inside coffer: never the user's fault. */
export class InternalError extends ToolError {}

/** A usage error on the command line (unknown flag, missing argument). */
export class UsageError extends ToolError {}

/** A file or stream that could not be read or written (names the path and the system error). */
export class IoError extends ToolError {}

/**
 * Standard output's reader went away (EPIPE): the command stops quietly with status 1, as a
 * process killed by SIGPIPE would, instead of printing an error nobody reads.
 */
export class StdoutClosedError extends IoError {}
