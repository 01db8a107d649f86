/**
 * The audit benchmark (issue 13: `coffer audit` over 1,000 files and 50 identities, each
 * file's metadata read once, nothing decrypted). A git repository of 1,000 sops YAML files
 * in 25 host folders, each encrypted to an admin group and its host (50 age identities in
 * all, named by anchors in `.sops.yaml`), a tenth of them stale. Measured:
 *
 * - `coffer audit --json` as a process (Node start-up included), median of the runs, with
 *   no key anywhere (HOME empty): nothing can be decrypted;
 * - the same with `--max-age` (git history read as well);
 * - how often each secret file is opened, counted with strace (1 each);
 * - side by side, the closest peer: the real `sops filestatus`, which only says whether a
 *   file is encrypted, run once per file (sops has no command over a tree).
 *
 *     node dist/bench/run.js audit
 *     BENCH_AUDIT_FILES=200 node dist/bench/run.js audit --no-readme
 */
import { execFileSync, spawnSync } from "node:child_process"
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { loadavg, tmpdir } from "node:os"
import { join } from "node:path"
import { fileURLToPath } from "node:url"
import { generateX25519Identity } from "../src/age/x25519.js"
import { encryptFile } from "../src/sops/index.js"

/** The benchmark's result. */
export interface AuditBenchResult {
  readonly files: number
  readonly identities: number
  readonly findings: number
  /** Median wall time and CPU of `coffer audit --json`. */
  readonly audit: Timing
  /** The same with `--max-age 365`. */
  readonly maxAge: Timing
  /** `node -e 0` (the start-up every process pays). */
  readonly node: Timing
  /** Opens per secret file (min and max over the files), from strace; null without strace. */
  readonly opens: { readonly min: number; readonly max: number } | null
  /** `sops filestatus` once per file; null without the peer. */
  readonly sops: Timing | null
  /** The 1-minute load average when the runs started. */
  readonly load: number
  readonly runs: number
}

const coffer = fileURLToPath(new URL("../../bin/coffer", import.meta.url))
const peerSops = fileURLToPath(new URL("../../.peers/bin/sops", import.meta.url))

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.floor(sorted.length / 2)] ?? 0
}

const timeTool = "/usr/bin/time"

/** One run: wall milliseconds, and user + system CPU seconds (with /usr/bin/time). */
interface Timing {
  readonly ms: number
  readonly cpu: number | null
}

function timed(
  command: string,
  args: readonly string[],
  cwd: string,
  env: NodeJS.ProcessEnv,
): Timing {
  const argv = existsSync(timeTool)
    ? [timeTool, "-f", "cpu %U %S", command, ...args]
    : [command, ...args]
  const start = process.hrtime.bigint()
  const r = spawnSync(argv[0] ?? command, argv.slice(1), {
    cwd,
    env,
    stdio: ["ignore", "pipe", "pipe"],
    maxBuffer: 1 << 30,
  })
  const ms = Number(process.hrtime.bigint() - start) / 1e6
  if (r.status !== 0 && r.status !== 1) {
    throw new Error(
      `${command} ${args.join(" ")} failed (${String(r.status)}): ${r.stderr.toString().slice(-400)}`,
    )
  }
  const m = /cpu ([\d.]+) ([\d.]+)\s*$/.exec(r.stderr.toString())
  return { ms, cpu: m === null ? null : Number(m[1]) + Number(m[2]) }
}

function medianTiming(runs: readonly Timing[]): Timing {
  const cpus = runs.map((r) => r.cpu).filter((c): c is number => c !== null)
  return {
    ms: median(runs.map((r) => r.ms)),
    cpu: cpus.length === runs.length ? median(cpus) : null,
  }
}

/**
 * Runs the benchmark.
 * @param files how many files (default 1,000, or BENCH_AUDIT_FILES)
 * @param runs runs per measurement (the median is kept)
 * @returns the timings
 */
export async function runAuditBench(
  files: number = Number(process.env["BENCH_AUDIT_FILES"] ?? 1000),
  runs: number = 5,
): Promise<AuditBenchResult> {
  const root = mkdtempSync(join(tmpdir(), "coffer-bench-audit-"))
  try {
    const repo = join(root, "repo")
    const home = join(root, "home")
    mkdirSync(home)
    const hosts = 25
    const admins = Array.from({ length: 25 }, (_, i) => ({
      name: `admin${String(i)}`,
      key: generateX25519Identity().toRecipient().encode(),
    }))
    const hostKeys = Array.from({ length: hosts }, (_, i) => ({
      name: `host${String(i)}`,
      key: generateX25519Identity().toRecipient().encode(),
    }))
    const stale = generateX25519Identity().toRecipient().encode()
    const lines = ["keys:", "  users:"]
    for (const a of admins) lines.push(`    - &${a.name} ${a.key}`)
    lines.push("  hosts:")
    for (const h of hostKeys) lines.push(`    - &${h.name} ${h.key}`)
    lines.push("creation_rules:")
    for (const h of hostKeys) {
      lines.push(`  - path_regex: secrets/${h.name}/[^/]+\\.yaml$`, "    key_groups:")
      lines.push(
        `      - age: [${[...admins.slice(0, 3).map((a) => `*${a.name}`), `*${h.name}`].join(", ")}]`,
      )
    }
    mkdirSync(repo)
    writeFileSync(join(repo, ".sops.yaml"), `${lines.join("\n")}\n`)
    for (let i = 0; i < files; i++) {
      const host = hostKeys[i % hosts]
      if (host === undefined) continue
      const recipients = [
        ...admins.slice(0, 3).map((a) => a.key),
        host.key,
        ...(i % 10 === 0 ? [stale] : []),
      ]
      const text = await encryptFile(
        `token: tskey-auth-${String(i)}\nuser: app${String(i)}\nport: ${String(8000 + i)}\n`,
        "yaml",
        { keyGroups: [{ age: recipients, pgp: [] }] },
      )
      mkdirSync(join(repo, "secrets", host.name), { recursive: true })
      writeFileSync(join(repo, "secrets", host.name, `s${String(i)}.yaml`), text)
    }
    const gitEnv = {
      ...process.env,
      GIT_AUTHOR_NAME: "b",
      GIT_AUTHOR_EMAIL: "b@example.invalid",
      GIT_COMMITTER_NAME: "b",
      GIT_COMMITTER_EMAIL: "b@example.invalid",
    }
    execFileSync("git", ["init", "-q"], { cwd: repo, env: gitEnv })
    execFileSync("git", ["add", "-A"], { cwd: repo, env: gitEnv })
    execFileSync("git", ["commit", "-q", "-m", "bench"], { cwd: repo, env: gitEnv })

    const env = {
      ...process.env,
      HOME: home,
      XDG_CONFIG_HOME: join(home, ".config"),
      SOPS_AGE_KEY_FILE: "",
      SOPS_AGE_KEY: "",
    }
    const check = spawnSync(coffer, ["audit", "--json"], { cwd: repo, env, maxBuffer: 1 << 30 })
    const report = JSON.parse(check.stdout.toString()) as {
      files: unknown[]
      identities: unknown[]
      findings: { class: string }[]
    }
    if (report.files.length !== files)
      throw new Error(`audit saw ${String(report.files.length)} files`)
    const staleCount = report.findings.filter((f) => f.class === "stale").length
    if (staleCount !== Math.ceil(files / 10))
      throw new Error(`audit found ${String(staleCount)} stale files`)

    const load = loadavg()[0] ?? 0
    const audit: Timing[] = []
    const maxAge: Timing[] = []
    const node: Timing[] = []
    for (let r = 0; r < runs; r++) {
      audit.push(timed(coffer, ["audit", "--json"], repo, env))
      maxAge.push(timed(coffer, ["audit", "--json", "--max-age", "365"], repo, env))
      node.push(timed(process.execPath, ["-e", "0"], repo, env))
    }

    let opens: AuditBenchResult["opens"] = null
    const hasStrace = spawnSync("sh", ["-c", "command -v strace"]).status === 0
    if (hasStrace) {
      const log = join(root, "strace.log")
      spawnSync(
        "strace",
        ["-f", "-qq", "-e", "trace=openat,open", "-o", log, coffer, "audit", "--json"],
        { cwd: repo, env, stdio: "ignore" },
      )
      const counts = new Map<string, number>()
      for (const line of readFileSync(log, "utf8").split("\n")) {
        const m = /open(?:at)?\([^"]*"([^"]*secrets\/host\d+\/s\d+\.yaml)"/.exec(line)
        if (m?.[1] !== undefined) counts.set(m[1], (counts.get(m[1]) ?? 0) + 1)
      }
      if (counts.size === files)
        opens = { min: Math.min(...counts.values()), max: Math.max(...counts.values()) }
    }

    let sops: Timing | null = null
    if (existsSync(peerSops)) {
      const list = join(root, "list.txt")
      writeFileSync(
        list,
        execFileSync("git", ["ls-files", "secrets"], { cwd: repo, encoding: "utf8" }),
      )
      const times: Timing[] = []
      for (let r = 0; r < 1; r++) {
        times.push(
          timed(
            "sh",
            ["-c", `xargs -n1 "${peerSops}" filestatus < "${list}" > /dev/null`],
            repo,
            env,
          ),
        )
      }
      sops = medianTiming(times)
    }
    return {
      files,
      identities: report.identities.length,
      findings: report.findings.length,
      audit: medianTiming(audit),
      maxAge: medianTiming(maxAge),
      node: medianTiming(node),
      opens,
      sops,
      runs,
      load,
    }
  } finally {
    rmSync(root, { recursive: true, force: true })
  }
}

/**
 * The README section.
 * @param result from `runAuditBench`
 * @returns markdown
 */
export function formatAuditBench(result: AuditBenchResult): string {
  const row = (what: string, t: Timing): string =>
    `| ${what} | ${(t.ms / 1000).toFixed(2)} s | ${t.cpu === null ? "—" : `${t.cpu.toFixed(2)} s`} | ${(t.ms / result.files).toFixed(2)} ms |`
  const ratio = (a: number | null, b: number | null): string =>
    a === null || b === null || b === 0 ? "—" : `${(a / b).toFixed(2)}x`
  return [
    `## audit: ${result.files.toLocaleString("en")} files, ${String(result.identities)} identities`,
    "",
    `A git repository of ${result.files.toLocaleString("en")} sops YAML files in 25 host folders, encrypted to three admins and`,
    "their host; 50 identities named by anchors in `.sops.yaml` (plus the removed key one file in",
    "ten still carries), 25 creation rules. Each command as a process (Node start-up included),",
    `median of ${String(result.runs)}, with no key on the machine (HOME empty): nothing can be decrypted.`,
    "CPU = user + system seconds (/usr/bin/time), which load from elsewhere on the machine barely",
    `moves; the load average was ${result.load.toFixed(2)} when the runs started, so compare CPU more than wall time.`,
    "",
    "| measurement | wall time | CPU | wall per file |",
    "|---|---:|---:|---:|",
    row("`coffer audit --json`", result.audit),
    row("`coffer audit --json --max-age 365` (git history too)", result.maxAge),
    row("`node -e 0`", result.node),
    ...(result.sops === null
      ? []
      : [row('`sops filestatus` 3.13.2, once per file (it only says "encrypted")', result.sops)]),
    "",
    `Findings: ${String(result.findings)}. Opens of each secret file during one audit (strace): ${result.opens === null ? "not measured (no strace)" : result.opens.min === result.opens.max ? String(result.opens.min) : `${String(result.opens.min)}–${String(result.opens.max)}`}.`,
    ...(result.sops === null
      ? []
      : [
          `coffer audit / sops filestatus over the same files: ${ratio(result.audit.ms, result.sops.ms)} the wall time, ${ratio(result.audit.cpu, result.sops.cpu)} the CPU (sops answers only "encrypted or not", one file per process; coffer also compares every file with its rule and builds the matrix).`,
        ]),
    "",
  ].join("\n")
}
