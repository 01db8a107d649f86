/**
 * Runs the built `bin/coffer` (and the other bin entries) as a real process and captures
 * its output, for CLI tests.
 */
import { spawn } from "node:child_process"
import { fileURLToPath } from "node:url"
import { join } from "node:path"

/** The repository root (tests run from dist/test/support/). */
export const repoRoot: string = fileURLToPath(new URL("../../../", import.meta.url))

/** The path of a bin entry (`coffer`, `coffer-age`, `coffer-age-keygen`). */
export function binPath(name = "coffer"): string {
  return join(repoRoot, "bin", name)
}

export interface RunResult {
  readonly status: number | null
  readonly signal: NodeJS.Signals | null
  readonly stdout: Buffer
  readonly stderr: string
}

export interface RunOptions {
  readonly input?: Uint8Array | string
  readonly env?: Readonly<Record<string, string | undefined>>
  readonly cwd?: string
  readonly bin?: string
  readonly timeoutMs?: number
}

/**
 * Runs `bin/coffer ARGS` (or another bin entry) with `input` on stdin.
 * @returns exit status, stdout bytes and stderr text
 */
export function runCli(args: readonly string[], opts: RunOptions = {}): Promise<RunResult> {
  return runCommand(binPath(opts.bin), args, opts)
}

/**
 * Runs the same arguments through coffer or through a peer (the real sops, say), for tests
 * that do one thing with each tool and compare.
 * @param peer the peer's binary, run when `tool` is not "coffer"
 */
export function runCofferOr(
  tool: string,
  peer: string,
  args: readonly string[],
  opts: RunOptions = {},
): Promise<RunResult> {
  return tool === "coffer" ? runCli(args, opts) : runCommand(peer, args, opts)
}

/** Runs any command the same way as `runCli`. */
export function runCommand(
  command: string,
  args: readonly string[],
  opts: RunOptions = {},
): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, {
      cwd: opts.cwd,
      env: { ...process.env, ...opts.env },
      stdio: ["pipe", "pipe", "pipe"],
      timeout: opts.timeoutMs ?? 120_000,
    })
    const out: Buffer[] = []
    const err: Buffer[] = []
    child.stdout.on("data", (d: Buffer) => out.push(d))
    child.stderr.on("data", (d: Buffer) => err.push(d))
    child.on("error", reject)
    child.on("close", (status, signal) => {
      resolve({
        status,
        signal,
        stdout: Buffer.concat(out),
        stderr: Buffer.concat(err).toString("utf8"),
      })
    })
    child.stdin.on("error", () => undefined)
    child.stdin.end(opts.input ?? "")
  })
}
