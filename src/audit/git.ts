/**
 * Running git for the audit: never through a shell, arguments as a list, standard input
 * given as text (for `git cat-file --batch`).
 */
import { spawn } from "node:child_process"
import { ToolError } from "../internal/errors.js"

/** What a git run produced. */
export interface GitResult {
  readonly status: number | null
  readonly stdout: Buffer
  readonly stderr: string
}

/** Runs git in `cwd` (never through a shell), with `input` on its standard input. */
export function runGit(args: readonly string[], cwd: string, input?: string): Promise<GitResult> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn("git", args, { cwd, stdio: ["pipe", "pipe", "pipe"] })
    const out: Buffer[] = []
    const err: Buffer[] = []
    child.stdout.on("data", (d: Buffer) => out.push(d))
    child.stderr.on("data", (d: Buffer) => err.push(d))
    child.on("error", (cause: NodeJS.ErrnoException) => {
      if (cause.code === "ENOENT") {
        reject(
          new ToolError("git is not installed", {
            cause,
            hints: ["install git (Debian: apt-get install git)"],
          }),
        )
      } else reject(cause)
    })
    child.on("close", (status) => {
      resolvePromise({
        status,
        stdout: Buffer.concat(out),
        stderr: Buffer.concat(err).toString("utf8"),
      })
    })
    child.stdin.on("error", () => undefined)
    child.stdin.end(input ?? "")
  })
}
