/**
 * The exit statuses of every coffer command (STYLE.md "CLI output"). Only `main.ts`
 * turns outcomes into one of these; `0` means the whole input was processed (age-spec.md §10).
 */

/** The exit statuses coffer uses. */
export const exitCodes: {
  readonly ok: 0
  readonly failure: 1
  readonly usage: 2
  readonly unchanged: 3
  readonly bug: 70
  readonly interrupted: 130
} = {
  /** Everything was processed. */
  ok: 0,
  /** A failure the user can act on (bad key, wrong file, I/O error). */
  failure: 1,
  /** The command line itself is wrong (unknown flag, missing argument, conflicting flags). */
  usage: 2,
  /** `edit`: nothing changed, so nothing was written. */
  unchanged: 3,
  /** A bug in coffer (an `InternalError` or an unexpected exception). */
  bug: 70,
  /** Interrupted by the user (Ctrl-C at a prompt, SIGINT). */
  interrupted: 130,
}

/** A child command's exit status passed through unchanged (`exec-env`, `exec-file`). */
export type ChildExitCode = number & { readonly childExitCode: true }

/**
 * @param status the child's exit status (0-255), or 128 + the signal number that killed it
 * @returns the status, to be returned by a command as its own
 */
export function childExitCode(status: number): ChildExitCode {
  return status as ChildExitCode
}

/** One of the exit statuses in `exitCodes`, or a child's status passed through. */
export type ExitCode = (typeof exitCodes)[keyof typeof exitCodes] | ChildExitCode
