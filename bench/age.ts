/**
 * The age benchmark (docs/goals.md "Performance targets"): `coffer age` (the bundled
 * `bin/coffer`) side by side with Debian's Go `age` 1.1.1 and typage (npm
 * `age-encryption`, streaming API, in a child node process), on the same random input in a
 * temporary directory, X25519 recipient, encrypt and decrypt.
 *
 * - Sizes come from BENCH_SIZES (default `1K,64M,1G`; suffixes K, M, G are binary units).
 *   1 KiB is the cold-start case: `coffer age -d` against `node -e 0` and Go `age -d`.
 * - Every run is a separate process; wall time is measured around it, peak RSS with
 *   `/usr/bin/time -f %M` (or the child's VmHWM from /proc when that tool is missing).
 * - Each decryption reads the same file (made by Go age); each output is checked.
 * - BENCH_REPEATS runs per measurement (default 5; at most 3 for typage on 256 MiB and
 *   more), median kept; tools are interleaved so that load from elsewhere hits all of them alike.
 * - BENCH_DIR picks the directory for the temporary files (default: /dev/shm when present,
 *   so that disk write-back does not dominate; else the system temp dir).
 *
 * Run alone with `node dist/bench/age.js`, or through `node dist/bench/run.js age`.
 */
import { spawn, spawnSync } from "node:child_process"
import { createHash, randomBytes } from "node:crypto"
import {
  closeSync,
  createReadStream,
  existsSync,
  mkdtempSync,
  openSync,
  readFileSync,
  rmSync,
  writeSync,
} from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { performance } from "node:perf_hooks"
import { fileURLToPath, pathToFileURL } from "node:url"

/** One tool's numbers for one size and direction. */
export interface AgeRun {
  readonly seconds: number
  readonly peakRssKiB: number | undefined
  /** User plus system CPU seconds of the process and its children (with /usr/bin/time). */
  readonly cpuSeconds: number | undefined
}

/** One tool at one size. */
export interface AgeToolResult {
  readonly tool: "coffer" | "age" | "typage" | "age, pipes" | "coffer, pipes"
  readonly encrypt: AgeRun
  readonly decrypt: AgeRun
}

/** One input size. */
export interface AgeSizeResult {
  readonly bytes: number
  readonly label: string
  readonly tools: readonly AgeToolResult[]
}

/** Cold start on a 1 KiB file. */
export interface ColdStartResult {
  readonly repeats: number
  readonly nodeSeconds: number
  readonly cofferSeconds: number
  readonly ageSeconds: number
  readonly cofferPeakRssKiB: number | undefined
}

/** The whole age benchmark result. */
export interface AgeBenchResult {
  readonly directory: string
  readonly rssMethod: string
  readonly sizes: readonly AgeSizeResult[]
  readonly coldStart: ColdStartResult | undefined
}

const repoRoot = fileURLToPath(new URL("../../", import.meta.url))
const cofferBin = join(repoRoot, "bin", "coffer")
const typageChild = fileURLToPath(new URL("./typage-child.js", import.meta.url))
const timeTool = "/usr/bin/time"

/**
 * Parses BENCH_SIZES entries such as `1K`, `64M`, `1G`, `512M`, `1000`.
 * @returns sizes in bytes, with their labels
 */
export function parseSizes(text: string): { bytes: number; label: string }[] {
  return text
    .split(",")
    .map((s) => s.trim())
    .filter((s) => s.length > 0)
    .map((s) => {
      const match = /^(\d+)([KMG]?)$/i.exec(s)
      if (match === null) throw new Error(`BENCH_SIZES: cannot read size "${s}"`)
      const unit = (match[2] ?? "").toUpperCase()
      const scale = unit === "K" ? 1024 : unit === "M" ? 1024 ** 2 : unit === "G" ? 1024 ** 3 : 1
      const bytes = Number(match[1]) * scale
      return { bytes, label: unit === "" ? `${bytes} B` : `${match[1]} ${unit}iB` }
    })
}

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b)
  const mid = Math.floor(sorted.length / 2)
  return sorted.length % 2 === 1
    ? (sorted[mid] ?? 0)
    : ((sorted[mid - 1] ?? 0) + (sorted[mid] ?? 0)) / 2
}

/** Reads a child's peak RSS from /proc while it runs (when /usr/bin/time is missing). */
function watchPeakRss(pid: number): () => number | undefined {
  let peak: number | undefined
  const sample = (): void => {
    try {
      const status = readFileSync(`/proc/${pid}/status`, "utf8")
      const match = /VmHWM:\s+(\d+) kB/.exec(status)
      if (match?.[1] !== undefined) peak = Math.max(peak ?? 0, Number(match[1]))
    } catch {
      // the process is gone
    }
  }
  const timer = setInterval(sample, 5)
  sample()
  return () => {
    clearInterval(timer)
    return peak
  }
}

/**
 * Runs a command to completion, measuring wall time and peak RSS.
 * @throws Error when it exits non-zero
 */
async function measure(command: string, args: readonly string[]): Promise<AgeRun> {
  const useTime = existsSync(timeTool)
  const [file, argv] = useTime
    ? [timeTool, ["-f", "coffer-bench-rss %M %U %S", command, ...args]]
    : [command, [...args]]
  const started = performance.now()
  const child = spawn(file, argv, { stdio: ["ignore", "ignore", "pipe"] })
  const stopWatching = useTime || child.pid === undefined ? null : watchPeakRss(child.pid)
  let stderr = ""
  child.stderr.on("data", (d: Buffer) => (stderr += d.toString("utf8")))
  const status = await new Promise<number | null>((resolve, reject) => {
    child.on("error", reject)
    child.on("close", resolve)
  })
  const seconds = (performance.now() - started) / 1000
  const watched = stopWatching?.()
  if (status !== 0) {
    throw new Error(`${command} ${args.join(" ")} exited with ${status}: ${stderr.trim()}`)
  }
  const match = /coffer-bench-rss (\d+) ([\d.]+) ([\d.]+)/.exec(stderr)
  if (match === null) return { seconds, peakRssKiB: watched, cpuSeconds: undefined }
  return {
    seconds,
    peakRssKiB: Number(match[1]),
    cpuSeconds: Number(match[2]) + Number(match[3]),
  }
}

function writeRandomFile(path: string, bytes: number): void {
  const fd = openSync(path, "w")
  try {
    for (let left = bytes; left > 0;) {
      const piece = randomBytes(Math.min(left, 8 << 20))
      writeSync(fd, piece)
      left -= piece.length
    }
  } finally {
    closeSync(fd)
  }
}

async function hashFile(path: string): Promise<string> {
  const hash = createHash("sha256")
  for await (const piece of createReadStream(path, { highWaterMark: 1 << 20 })) {
    hash.update(piece as Buffer)
  }
  return hash.digest("hex")
}

function pickDirectory(): string {
  const fromEnv = process.env["BENCH_DIR"]
  if (fromEnv !== undefined && fromEnv !== "") return fromEnv
  return existsSync("/dev/shm") ? "/dev/shm" : tmpdir()
}

interface Tool {
  readonly name: AgeToolResult["tool"]
  encrypt(input: string, output: string): Promise<AgeRun>
  decrypt(input: string, output: string): Promise<AgeRun>
}

/** Options for `runAgeBench`. */
export interface AgeBenchOptions {
  readonly sizes?: readonly { bytes: number; label: string }[]
  readonly repeats?: number
  /** Repetitions of the 1 KiB cold-start runs. */
  readonly coldRepeats?: number
  readonly log?: (line: string) => void
}

/**
 * Runs the benchmark; needs `age`, `age-keygen` on PATH and a built `bin/coffer`.
 * @returns the measurements
 */
export async function runAgeBench(options: AgeBenchOptions = {}): Promise<AgeBenchResult> {
  const sizes = options.sizes ?? parseSizes(process.env["BENCH_SIZES"] ?? "1K,64M,1G")
  const repeats = options.repeats ?? Number(process.env["BENCH_REPEATS"] ?? 5)
  const coldRepeats = options.coldRepeats ?? 31
  const log = options.log ?? ((line: string) => process.stderr.write(`${line}\n`))
  const base = pickDirectory()
  const dir = mkdtempSync(join(base, "coffer-bench-"))
  try {
    const key = join(dir, "key.txt")
    const keygen = spawnSync("age-keygen", ["-o", key], { encoding: "utf8" })
    if (keygen.status !== 0) throw new Error(`age-keygen failed: ${keygen.stderr}`)
    const recipient = /Public key: (age1\w+)/.exec(keygen.stderr)?.[1]
    if (recipient === undefined) throw new Error("age-keygen printed no public key")

    const tools: Tool[] = [
      {
        name: "age",
        encrypt: (i, o) => measure("age", ["-r", recipient, "-o", o, i]),
        decrypt: (i, o) => measure("age", ["-d", "-i", key, "-o", o, i]),
      },
      {
        name: "coffer",
        encrypt: (i, o) => measure(cofferBin, ["age", "-r", recipient, "-o", o, i]),
        decrypt: (i, o) => measure(cofferBin, ["age", "-d", "-i", key, "-o", o, i]),
      },
      {
        // standard input to standard output: the path that can't read or write by position
        name: "age, pipes",
        encrypt: (i, o) =>
          measure("sh", ["-c", `age -r ${recipient} < "$1" | cat > "$2"`, "sh", i, o]),
        decrypt: (i, o) =>
          measure("sh", ["-c", `age -d -i "$3" < "$1" | cat > "$2"`, "sh", i, o, key]),
      },
      {
        name: "coffer, pipes",
        encrypt: (i, o) =>
          measure("sh", [
            "-c",
            `"$3" age -r ${recipient} < "$1" | cat > "$2"`,
            "sh",
            i,
            o,
            cofferBin,
          ]),
        decrypt: (i, o) =>
          measure("sh", [
            "-c",
            `"$4" age -d -i "$3" < "$1" | cat > "$2"`,
            "sh",
            i,
            o,
            key,
            cofferBin,
          ]),
      },
      {
        name: "typage",
        encrypt: (i, o) => measure(process.execPath, [typageChild, "encrypt", i, o, recipient]),
        decrypt: (i, o) => measure(process.execPath, [typageChild, "decrypt", i, o, key]),
      },
    ]

    const results: AgeSizeResult[] = []
    let coldStart: ColdStartResult | undefined
    for (const size of sizes) {
      const input = join(dir, "plain")
      writeRandomFile(input, size.bytes)
      const inputHash = await hashFile(input)
      const reference = join(dir, "reference.age")
      const made = spawnSync("age", ["-r", recipient, "-o", reference, input])
      if (made.status !== 0) throw new Error("age could not encrypt the input")
      const encrypted = join(dir, "out.age")
      const decrypted = join(dir, "out.plain")

      if (size.bytes <= 64 * 1024) {
        coldStart = await measureColdStart(reference, key, decrypted, coldRepeats)
        log(
          `cold start ${size.label}: node -e 0 ${coldStart.nodeSeconds.toFixed(3)} s, coffer age -d ${coldStart.cofferSeconds.toFixed(3)} s, age -d ${coldStart.ageSeconds.toFixed(3)} s`,
        )
      }
      if (size.bytes <= 64 * 1024) {
        // small sizes measure start-up only (above); the throughput table starts beyond
        rmSync(input, { force: true })
        rmSync(reference, { force: true })
        continue
      }
      const runs = new Map<string, { encrypt: AgeRun[]; decrypt: AgeRun[] }>()
      for (const tool of tools) runs.set(tool.name, { encrypt: [], decrypt: [] })
      for (let round = 0; round < repeats; round++) {
        for (const tool of tools) {
          // typage takes about 15 s a GiB: three rounds are enough for a median
          if (tool.name === "typage" && size.bytes >= 256 * 1024 ** 2 && round > 2) continue
          const record = runs.get(tool.name)
          if (record === undefined) continue
          const enc = await tool.encrypt(input, encrypted)
          const dec = await tool.decrypt(reference, decrypted)
          if (round === 0) {
            // every tool's output must be right: ours decrypts with Go age, theirs back
            const check = spawnSync("age", ["-d", "-i", key, "-o", decrypted + ".check", encrypted])
            if (check.status !== 0) throw new Error(`${tool.name}'s file does not decrypt`)
            if ((await hashFile(decrypted + ".check")) !== inputHash) {
              throw new Error(`${tool.name}'s file decrypts to the wrong bytes`)
            }
            if ((await hashFile(decrypted)) !== inputHash) {
              throw new Error(`${tool.name} decrypted to the wrong bytes`)
            }
            rmSync(decrypted + ".check", { force: true })
          }
          rmSync(encrypted, { force: true })
          rmSync(decrypted, { force: true })
          record.encrypt.push(enc)
          record.decrypt.push(dec)
          log(
            `${size.label} ${tool.name} round ${round + 1}: encrypt ${enc.seconds.toFixed(3)} s, decrypt ${dec.seconds.toFixed(3)} s`,
          )
        }
      }
      const summarize = (list: readonly AgeRun[]): AgeRun => ({
        seconds: median(list.map((r) => r.seconds)),
        peakRssKiB: list.some((r) => r.peakRssKiB !== undefined)
          ? Math.max(...list.map((r) => r.peakRssKiB ?? 0))
          : undefined,
        cpuSeconds: list.every((r) => r.cpuSeconds !== undefined)
          ? median(list.map((r) => r.cpuSeconds ?? 0))
          : undefined,
      })
      results.push({
        bytes: size.bytes,
        label: size.label,
        tools: tools.map((tool) => {
          const record = runs.get(tool.name) ?? { encrypt: [], decrypt: [] }
          return {
            tool: tool.name,
            encrypt: summarize(record.encrypt),
            decrypt: summarize(record.decrypt),
          }
        }),
      })
      rmSync(input, { force: true })
      rmSync(reference, { force: true })
    }
    return {
      directory: base,
      rssMethod: existsSync(timeTool) ? "/usr/bin/time -f %M" : "VmHWM from /proc/PID/status",
      sizes: results,
      coldStart,
    }
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}

async function measureColdStart(
  file: string,
  key: string,
  output: string,
  repeats: number,
): Promise<ColdStartResult> {
  const node: number[] = []
  const coffer: number[] = []
  const age: number[] = []
  let cofferPeak: number | undefined
  for (let i = 0; i < repeats; i++) {
    node.push((await measure(process.execPath, ["-e", "0"])).seconds)
    const ours = await measure(cofferBin, ["age", "-d", "-i", key, "-o", output, file])
    coffer.push(ours.seconds)
    cofferPeak = Math.max(cofferPeak ?? 0, ours.peakRssKiB ?? 0)
    age.push((await measure("age", ["-d", "-i", key, "-o", output, file])).seconds)
    rmSync(output, { force: true })
  }
  return {
    repeats,
    nodeSeconds: median(node),
    cofferSeconds: median(coffer),
    ageSeconds: median(age),
    cofferPeakRssKiB: cofferPeak,
  }
}

const MIB = 1024 * 1024

function verdict(ok: boolean): string {
  return ok ? "met" : "**not met**"
}

/**
 * Formats the result as a Markdown section for bench/README.md: a table per size and the
 * ratios the targets are stated in.
 * @returns the text
 */
export function formatAgeBench(result: AgeBenchResult): string {
  const lines: string[] = [
    "## age: coffer vs Go age 1.1.1 vs typage",
    "",
    `Same random input per size, X25519 recipient, files in \`${result.directory}\`; each run is`,
    `a separate process (wall time, median); peak RSS by ${result.rssMethod} (max over runs);`,
    "CPU = user + system seconds (median), which load from elsewhere on the machine barely moves.",
    "Decryption reads the file Go age made. Throughput = plaintext MiB / wall seconds.",
    "From 16 MiB, file to file (`-o FILE` and an input path, as here), coffer runs two worker",
    "threads that each claim batches of four 64 KiB chunks, read them with pread, seal or open",
    "them, and write them with pwrite (src/age/positional.ts); the main thread takes batches",
    'until they are up. Standard input and output (the "pipes" rows, through `cat`) go',
    "through src/age/parallel.ts instead: workers seal and open, the main thread reads and",
    "writes. Every coffer process pays Node's start-up (see the cold-start line), which",
    "dominates at 64 MiB. The machine is shared: a high load average favours single-threaded",
    "tools, so compare the rows of one run, not numbers across runs.",
    "",
  ]
  const cpu = (seconds: number | undefined): string =>
    seconds === undefined ? "n/a" : seconds.toFixed(2)
  const rss = (kib: number | undefined): string =>
    kib === undefined ? "n/a" : `${(kib / 1024).toFixed(1)} MiB`
  const sizes = result.sizes.filter((s) => s.bytes > 64 * 1024)
  if (sizes.length > 0) {
    lines.push(
      "| size | tool | encrypt s | decrypt s | encrypt MiB/s | decrypt MiB/s | CPU s enc | CPU s dec | peak RSS enc | peak RSS dec |",
      "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    )
    for (const size of sizes) {
      for (const t of size.tools) {
        const mib = size.bytes / MIB
        lines.push(
          `| ${size.label} | ${t.tool} | ${t.encrypt.seconds.toFixed(3)} | ${t.decrypt.seconds.toFixed(3)} | ${(mib / t.encrypt.seconds).toFixed(0)} | ${(mib / t.decrypt.seconds).toFixed(0)} | ${cpu(t.encrypt.cpuSeconds)} | ${cpu(t.decrypt.cpuSeconds)} | ${rss(t.encrypt.peakRssKiB)} | ${rss(t.decrypt.peakRssKiB)} |`,
        )
      }
    }
    lines.push(
      "",
      "| size | coffer/age time enc | coffer/age time dec | coffer/typage throughput enc | coffer/typage throughput dec | coffer peak RSS |",
      "|---|---:|---:|---:|---:|---:|",
    )
    for (const size of sizes) {
      const get = (name: string): AgeToolResult | undefined =>
        size.tools.find((t) => t.tool === name)
      const coffer = get("coffer")
      const age = get("age")
      const typage = get("typage")
      if (coffer === undefined || age === undefined || typage === undefined) continue
      const peak = Math.max(coffer.encrypt.peakRssKiB ?? 0, coffer.decrypt.peakRssKiB ?? 0)
      lines.push(
        `| ${size.label} | ${(coffer.encrypt.seconds / age.encrypt.seconds).toFixed(2)}x | ${(coffer.decrypt.seconds / age.decrypt.seconds).toFixed(2)}x | ${(typage.encrypt.seconds / coffer.encrypt.seconds).toFixed(1)}x | ${(typage.decrypt.seconds / coffer.decrypt.seconds).toFixed(1)}x | ${rss(peak)} |`,
      )
    }
    for (const size of sizes) {
      const agePipes = size.tools.find((t) => t.tool === "age, pipes")
      const cofferPipes = size.tools.find((t) => t.tool === "coffer, pipes")
      if (agePipes === undefined || cofferPipes === undefined) continue
      lines.push(
        "",
        `Through pipes at ${size.label} (\`< in | cat > out\`): coffer/age time encrypt ` +
          `${(cofferPipes.encrypt.seconds / agePipes.encrypt.seconds).toFixed(2)}x, decrypt ` +
          `${(cofferPipes.decrypt.seconds / agePipes.decrypt.seconds).toFixed(2)}x.`,
      )
    }
    const largest = sizes[sizes.length - 1]
    const coffer = largest?.tools.find((t) => t.tool === "coffer")
    const age = largest?.tools.find((t) => t.tool === "age")
    const typage = largest?.tools.find((t) => t.tool === "typage")
    if (
      largest !== undefined &&
      coffer !== undefined &&
      age !== undefined &&
      typage !== undefined
    ) {
      const peak = Math.max(
        ...result.sizes.flatMap((s) =>
          s.tools
            .filter((t) => t.tool === "coffer")
            .flatMap((t) => [t.encrypt.peakRssKiB ?? 0, t.decrypt.peakRssKiB ?? 0]),
        ),
      )
      const worst = Math.max(
        coffer.encrypt.seconds / age.encrypt.seconds,
        coffer.decrypt.seconds / age.decrypt.seconds,
      )
      const typageRatio = Math.min(
        typage.encrypt.seconds / coffer.encrypt.seconds,
        typage.decrypt.seconds / coffer.decrypt.seconds,
      )
      lines.push(
        "",
        `Targets at ${largest.label}: wall time at most 1.0x Go age: ${worst.toFixed(2)}x (${verdict(worst <= 1)}); ` +
          `peak RSS under 100 MiB at every size: ${rss(peak)} (${verdict(peak < 100 * 1024)}); ` +
          `at least 10x typage's throughput: ${typageRatio.toFixed(1)}x (${verdict(typageRatio >= 10)}).`,
      )
    }
  }
  const cold = result.coldStart
  if (cold !== undefined) {
    const ratio = cold.cofferSeconds / cold.nodeSeconds
    lines.push(
      "",
      `Cold start, \`coffer age -d\` of a 1 KiB file (median of ${cold.repeats}): ${cold.cofferSeconds.toFixed(3)} s; ` +
        `\`node -e 0\` ${cold.nodeSeconds.toFixed(3)} s; Go \`age -d\` ${cold.ageSeconds.toFixed(3)} s; ` +
        `peak RSS ${rss(cold.cofferPeakRssKiB)}. coffer / node -e 0 = ${ratio.toFixed(2)}x ` +
        `(target 1.3x: ${verdict(ratio <= 1.3)}).`,
    )
  }
  lines.push("")
  return lines.join("\n")
}

const invokedDirectly =
  process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href
if (invokedDirectly) {
  process.stdout.write(formatAgeBench(await runAgeBench()))
}
