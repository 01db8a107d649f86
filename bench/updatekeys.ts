/**
 * The `updatekeys` benchmark (issue 4, docs/goals.md "Performance targets": bulk `updatekeys`
 * over 1,000 files uses both cores). 1,000 small YAML sops files encrypted to one age key;
 * the rule gains a second recipient; `coffer updatekeys -y` (the real CLI, as a process)
 * adds it to every file, with one worker thread and with two. Each run starts from the
 * same files. Reports files per second and the speed-up.
 *
 *     node dist/bench/run.js updatekeys
 *     BENCH_UPDATEKEYS_FILES=200 node dist/bench/run.js updatekeys --no-readme
 */
import { spawnSync } from "node:child_process"
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { availableParallelism, tmpdir } from "node:os"
import { join } from "node:path"
import { fileURLToPath } from "node:url"
import { generateX25519Identity } from "../src/age/x25519.js"
import { encryptFile } from "../src/sops/index.js"

/** One measured configuration. */
export interface UpdatekeysRun {
  readonly workers: number
  /** Wall time of the whole command (Node start-up included), best of the repeats, in ms. */
  readonly ms: number
  readonly filesPerSecond: number
}

/** The benchmark's result. */
export interface UpdatekeysBenchResult {
  readonly files: number
  readonly runs: readonly UpdatekeysRun[]
  /** Files per second with two workers over one. */
  readonly speedup: number
  readonly cores: number
}

const coffer = fileURLToPath(new URL("../../bin/coffer", import.meta.url))

/**
 * Runs the benchmark.
 * @param files how many files (default 1,000, or BENCH_UPDATEKEYS_FILES)
 * @param repeats runs per configuration (the best is kept)
 * @returns the timings
 */
export async function runUpdatekeysBench(
  files: number = Number(process.env["BENCH_UPDATEKEYS_FILES"] ?? 1000),
  repeats: number = 2,
): Promise<UpdatekeysBenchResult> {
  const root = mkdtempSync(join(tmpdir(), "coffer-bench-updatekeys-"))
  try {
    const admin = generateX25519Identity()
    const host = generateX25519Identity()
    const keyFile = join(root, "admin.txt")
    writeFileSync(keyFile, `${admin.encode()}\n`, { mode: 0o600 })
    const original = join(root, "original")
    mkdirSync(join(original, "secrets"), { recursive: true })
    for (let i = 0; i < files; i++) {
      const text = await encryptFile(
        `token: tskey-auth-${String(i)}\nuser: app${String(i)}\nport: ${String(8000 + i)}\n`,
        "yaml",
        { keyGroups: [{ age: [admin.toRecipient().encode()], pgp: [] }] },
      )
      writeFileSync(join(original, "secrets", `s${String(i)}.yaml`), text)
    }
    writeFileSync(
      join(original, ".sops.yaml"),
      `creation_rules:\n  - path_regex: secrets/.*\\.yaml$\n    age: ${admin.toRecipient().encode()},${host.toRecipient().encode()}\n`,
    )
    const runs: UpdatekeysRun[] = []
    for (const workers of [1, 2]) {
      let best = Infinity
      for (let r = 0; r < repeats; r++) {
        const work = join(root, `run-${String(workers)}-${String(r)}`)
        cpSync(original, work, { recursive: true })
        const start = process.hrtime.bigint()
        const result = spawnSync(
          coffer,
          ["updatekeys", "-y", "--jobs", String(workers), "secrets"],
          {
            cwd: work,
            env: { ...process.env, SOPS_AGE_KEY_FILE: keyFile, HOME: root },
            encoding: "utf8",
          },
        )
        const ms = Number(process.hrtime.bigint() - start) / 1e6
        if (result.status !== 0 || !result.stderr.includes(`updated ${String(files)},`)) {
          throw new Error(
            `updatekeys failed (${String(result.status)}): ${result.stderr.slice(-500)}`,
          )
        }
        if (
          !readFileSync(join(work, "secrets", "s0.yaml"), "utf8").includes(
            host.toRecipient().encode(),
          )
        ) {
          throw new Error("updatekeys did not add the recipient")
        }
        rmSync(work, { recursive: true, force: true })
        best = Math.min(best, ms)
      }
      runs.push({ workers, ms: best, filesPerSecond: (files / best) * 1000 })
    }
    const [one, two] = runs
    return {
      files,
      runs,
      speedup: one !== undefined && two !== undefined ? two.filesPerSecond / one.filesPerSecond : 0,
      cores: availableParallelism(),
    }
  } finally {
    rmSync(root, { recursive: true, force: true })
  }
}

/**
 * The README section.
 * @param result from `runUpdatekeysBench`
 * @returns markdown
 */
export function formatUpdatekeysBench(result: UpdatekeysBenchResult): string {
  return [
    `## updatekeys: ${result.files.toLocaleString("en")} files`,
    "",
    "`coffer updatekeys -y --jobs N secrets/` as a process (Node start-up included, best of 2): a",
    "rule gains an age recipient and every file gets it (data key unwrapped once per file, the",
    "new recipient wrapped, the file replaced atomically; values untouched).",
    "",
    "| worker threads | wall time | files/second |",
    "|---:|---:|---:|",
    ...result.runs.map(
      (r) =>
        `| ${String(r.workers)} | ${(r.ms / 1000).toFixed(2)} s | ${r.filesPerSecond.toFixed(0)} |`,
    ),
    "",
    `Speed-up with 2 workers: ${result.speedup.toFixed(2)}× (${String(result.cores)} cores available).`,
    "",
  ].join("\n")
}
