/**
 * Running git for the audit: never through a shell, arguments as a list, standard input
 * given as text (for `git cat-file --batch`).
 */
import { spawn } from "node:child_process"
import { IoError, ToolError } from "../internal/errors.js"

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

/**
 * Reads blobs from git's object store (`git cat-file --batch`), one process for all.
 * @param root where to run git
 * @param names object names (`:path` for the index, `COMMIT:path`)
 * @returns each name's content, or undefined when it is not a blob
 * @throws IoError when git fails
 */
export async function readBlobs(
  root: string,
  names: readonly string[],
): Promise<Map<string, Buffer | undefined>> {
  const out = new Map<string, Buffer | undefined>()
  if (names.length === 0) return out
  const result = await runGit(["cat-file", "--batch"], root, names.map((n) => `${n}\n`).join(""))
  if (result.status !== 0) throw new IoError(`git cat-file failed: ${result.stderr.trim()}`)
  const data = result.stdout
  let at = 0
  for (const name of names) {
    const newline = data.indexOf(10, at)
    if (newline === -1) break
    const header = data.subarray(at, newline).toString("utf8")
    at = newline + 1
    const m = /^[0-9a-f]+ (\w+) (\d+)$/.exec(header)
    if (m === null) {
      out.set(name, undefined)
      continue
    }
    const size = Number(m[2])
    out.set(name, m[1] === "blob" ? data.subarray(at, at + size) : undefined)
    at += size + 1
  }
  return out
}
