/**
 * Drives a command through a pseudo-terminal with util-linux `script`, for passphrase
 * prompts that read /dev/tty (Go age reads passphrases only from a terminal, and so do we).
 * Each answer is typed once the prompt count on the terminal reaches it.
 */
import { spawn } from "node:child_process"

/** What came out of the terminal session. */
export interface PtyResult {
  readonly status: number | null
  /** Everything the terminal showed (prompts, echoed text, stderr). */
  readonly transcript: string
}

/**
 * Runs `argv` (quoted for sh) inside `script`, typing `answers` one per prompt.
 * @param promptPattern what a prompt looks like on the terminal
 */
export function runInPty(
  argv: readonly string[],
  answers: readonly string[],
  opts: { cwd?: string; env?: Readonly<Record<string, string>>; promptPattern?: RegExp } = {},
): Promise<PtyResult> {
  const command = argv.map(shellQuote).join(" ")
  const pattern = opts.promptPattern ?? /passphrase[^:\n]*:/gi
  return new Promise((resolve, reject) => {
    const child = spawn("script", ["-qec", command, "/dev/null"], {
      cwd: opts.cwd,
      env: { ...process.env, ...opts.env },
      stdio: ["pipe", "pipe", "pipe"],
      timeout: 120_000,
    })
    let transcript = ""
    let answered = 0
    const onOutput = (data: Buffer): void => {
      transcript += data.toString("utf8")
      const prompts = transcript.match(pattern)?.length ?? 0
      while (answered < prompts && answered < answers.length) {
        child.stdin.write(`${answers[answered] ?? ""}\r`)
        answered += 1
      }
    }
    child.stdout.on("data", onOutput)
    child.stderr.on("data", onOutput)
    child.stdin.on("error", () => undefined)
    child.on("error", reject)
    child.on("close", (status) => {
      resolve({ status, transcript })
    })
  })
}

/** Quotes one argument for sh. */
export function shellQuote(arg: string): string {
  return /^[\w@%+=:,./-]+$/.test(arg) ? arg : `'${arg.replace(/'/g, `'\\''`)}'`
}
