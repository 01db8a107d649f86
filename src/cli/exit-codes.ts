/**
 * The exit statuses of every coffer command (docs/conventions.md "CLI output"). Only `main.ts`
 * turns outcomes into one of these; `0` means the whole input was processed
 * (docs/formats/age.md "The age and age-keygen command lines").
 */

/** The exit statuses coffer uses. */
export const exitCodes: {
  readonly ok: 0
  readonly failure: 1
  readonly usage: 2
  readonly unchanged: 3
  readonly controlUnreachable: 4
  readonly authKeyRejected: 5
  readonly needsMachineAuth: 6
  readonly joinTimeout: 7
  readonly daemonUnreachable: 8
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
  /** `tailscale up`: the control server stayed unreachable until the timeout. */
  controlUnreachable: 4,
  /** `tailscale up`: the control server refused the auth key. */
  authKeyRejected: 5,
  /** `tailscale up`: the device waits for an admin's approval. */
  needsMachineAuth: 6,
  /** `tailscale up`: tailscaled did not reach Running within the timeout. */
  joinTimeout: 7,
  /** `tailscale up`: tailscaled does not answer on its socket. */
  daemonUnreachable: 8,
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

/** Failures with an exit status of their own, by error class name (`tailscale up`). */
const statusByErrorName: Readonly<Record<string, ExitCode>> = {
  InterruptedError: exitCodes.interrupted,
  ControlUnreachableError: exitCodes.controlUnreachable,
  AuthKeyRejectedError: exitCodes.authKeyRejected,
  NeedsMachineAuthError: exitCodes.needsMachineAuth,
  JoinTimeoutError: exitCodes.joinTimeout,
  DaemonUnreachableError: exitCodes.daemonUnreachable,
}

/**
 * @param name a `ToolError`'s class name
 * @returns its exit status: its own, or `failure`
 */
export function exitCodeOfToolError(name: string): ExitCode {
  return Object.hasOwn(statusByErrorName, name)
    ? (statusByErrorName[name] ?? exitCodes.failure)
    : exitCodes.failure
}
