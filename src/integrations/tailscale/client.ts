/**
 * Running the `tailscale` client (the effect at the edge of the join): one child process
 * per call, `--socket` first, a hard deadline after which coffer kills it, output captured.
 *
 * No secret is ever passed here: keys go by `--auth-key=file:PATH`, which the client reads
 * itself (https://github.com/tailscale/tailscale/blob/v1.102.5/cmd/tailscale/cli/up.go,
 * `resolveValueFromFile`). The child's environment is ours without variables that could
 * carry a key to it (`TS_AUTHKEY`, `TS_AUTH_KEY`, `TS_CLIENT_SECRET`...).
 */
import { spawn } from "node:child_process"
import { TailscaleClientError } from "./errors.js"
import type { ClientOutcome } from "./classify.js"

/** Runs the client. */
export interface TailscaleClient {
  /**
   * Runs `tailscale --socket=S ARGS`.
   * @param args the subcommand and its flags
   * @param opts.timeoutMs kill the child after this long (the outcome says `timedOut`)
   * @param opts.onStdout sees standard output as it arrives; returning true stops the child
   * @throws TailscaleClientError when the binary cannot be started
   */
  run(
    args: readonly string[],
    opts: { readonly timeoutMs: number; readonly onStdout?: (soFar: string) => boolean },
  ): Promise<ClientOutcome>
  /** Every argv run so far (without the binary), for reports. */
  readonly calls: readonly (readonly string[])[]
}

/** Variables that may hold a key in some tools' conventions: never passed on. */
const secretVariables = /^(TS_AUTH_?KEY|TS_CLIENT_SECRET|TS_OAUTH.*|TS_API_KEY|TAILSCALE_.*KEY)$/i

/**
 * The client, as a process.
 * @param binary the `tailscale` executable (a path, or a name looked up on PATH)
 * @param socket tailscaled's socket, or null for the client's default
 * @param env the environment to start from
 */
export function processTailscaleClient(
  binary: string,
  socket: string | null,
  env: NodeJS.ProcessEnv,
): TailscaleClient {
  const calls: string[][] = []
  const childEnv: NodeJS.ProcessEnv = {}
  for (const [name, value] of Object.entries(env)) {
    if (!secretVariables.test(name)) childEnv[name] = value
  }
  return {
    calls,
    run: (args, opts) => {
      const argv = [...(socket === null ? [] : [`--socket=${socket}`]), ...args]
      calls.push(argv)
      return new Promise((resolve, reject) => {
        const child = spawn(binary, argv, { env: childEnv, stdio: ["ignore", "pipe", "pipe"] })
        let stdout = ""
        let stderr = ""
        let timedOut = false
        let stopped = false
        const stop = (): void => {
          try {
            child.kill("SIGTERM")
          } catch {
            // already gone
          }
        }
        const timer = setTimeout(
          () => {
            timedOut = true
            stop()
          },
          Math.max(1, opts.timeoutMs),
        )
        child.stdout.setEncoding("utf8")
        child.stderr.setEncoding("utf8")
        child.stdout.on("data", (d: string) => {
          stdout += d
          if (!stopped && opts.onStdout?.(stdout) === true) {
            stopped = true
            stop()
          }
        })
        child.stderr.on("data", (d: string) => {
          stderr += d
        })
        child.once("error", (cause: NodeJS.ErrnoException) => {
          clearTimeout(timer)
          reject(
            new TailscaleClientError(
              `can't run the tailscale client ${JSON.stringify(binary)}: ${cause.code ?? cause.message}`,
              {
                hints: [
                  "install tailscale, or give its path with --tailscale (npm run peers builds one for tests)",
                ],
                cause,
              },
            ),
          )
        })
        child.once("close", (code) => {
          clearTimeout(timer)
          resolve({
            command: args.slice(0, args[0] === "debug" ? 2 : 1).join(" "),
            exitCode: code,
            stdout,
            stderr,
            timedOut,
          })
        })
      })
    },
  }
}
