/**
 * Running the command of `exec-env` and `exec-file` (docs/formats/sops.md "Commands"):
 * `/bin/sh -c CMD` as sops does, optionally as another user (`--user`), with SIGINT,
 * SIGTERM and SIGHUP forwarded to it while we wait, and its exit status (or 128 + the
 * signal that killed it) returned, for the command line to pass through as its own.
 */
import { spawn, spawnSync } from "node:child_process"
import { constants } from "node:os"
import type { PrivateTempDir } from "./private-temp.js"
import { ToolError } from "../internal/errors.js"

/** The command could not be started, or `--user` names no user. */
export class CommandStartError extends ToolError {}

function idOf(user: string, flag: "-u" | "-g"): number {
  const r = spawnSync("id", [flag, user], { encoding: "utf8" })
  const n = Number.parseInt(r.stdout.trim(), 10)
  if (r.status !== 0 || !Number.isInteger(n)) {
    throw new CommandStartError(`no user ${JSON.stringify(user)}`, {
      hints: ["--user takes a user name or numeric id known to this system"],
    })
  }
  return n
}

/**
 * Runs `/bin/sh -c command` and waits for it.
 * @param command the shell command line
 * @param env the complete environment for the command
 * @param options `user` to run as (needs root), `temp` whose signal cleanup also stops the child
 * @returns the command's exit status (0-255), or 128 + the number of the signal that killed it
 * @throws CommandStartError when the shell can't be started or the user is unknown
 */
export async function runShellCommand(
  command: string,
  env: NodeJS.ProcessEnv,
  options: { readonly user?: string | undefined; readonly temp?: PrivateTempDir } = {},
): Promise<number> {
  const ids =
    options.user === undefined || options.user === ""
      ? {}
      : { uid: idOf(options.user, "-u"), gid: idOf(options.user, "-g") }
  const child = spawn("/bin/sh", ["-c", command], { stdio: "inherit", env, ...ids })
  options.temp?.attachChild(child)
  const forward = (signal: NodeJS.Signals) => (): void => {
    try {
      child.kill(signal)
    } catch {
      // already gone
    }
  }
  // With a temp dir, its handlers stop the child, remove the plaintext and exit; without
  // one, we only forward the signal and let the child decide.
  const handlers =
    options.temp === undefined
      ? (["SIGINT", "SIGTERM", "SIGHUP"] as const).map((s) => [s, forward(s)] as const)
      : []
  for (const [signal, handler] of handlers) process.on(signal, handler)
  try {
    return await new Promise<number>((resolve, reject) => {
      child.once("error", (cause) => {
        reject(new CommandStartError(`can't run /bin/sh: ${cause.message}`, { cause }))
      })
      child.once("exit", (code, signal) => {
        resolve(code ?? 128 + (signal === null ? 0 : constants.signals[signal]))
      })
    })
  } finally {
    options.temp?.attachChild(undefined)
    for (const [signal, handler] of handlers) process.off(signal, handler)
  }
}
