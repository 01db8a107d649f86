/**
 * The sops benchmark (docs/goals.md "Performance targets", issue 17 "Large documents"):
 * `coffer encrypt`/`coffer decrypt` side by side with the real sops 3.13.2 (`.peers/bin/sops`,
 * built by `scripts/peers.sh`) in one run, as processes, on the same files.
 *
 * Shapes (each value is a leaf; about 30 bytes of text per string value):
 * - `yaml flat`, `json flat`, `dotenv`: one top-level mapping of N keys;
 * - `yaml nested`, `json nested`: sections of 100 values, each with a nested mapping, a
 *   list, an int, a bool, a float and an `_unencrypted` value (clear but in the MAC);
 * - `ini`: sections of 100 keys; `ini flat`: one section of N keys.
 *
 * For every shape and size: sops encrypts the plaintext, coffer encrypts it, then both
 * decrypt the file sops wrote (and the plaintexts are compared). Each run is a process
 * under `/usr/bin/time` (wall time, peak RSS) and `timeout`: a run longer than the cap
 * (BENCH_SOPS_TIMEOUT seconds, default 60) is stopped and reported as "> cap" (sops's YAML,
 * JSON and INI stores are quadratic, so they hit it first). Ratios are coffer/sops wall
 * time; linearity is time(10N)/time(N), at most 12 wanted.
 *
 * Sizes: BENCH_SOPS_SIZES (default `10K,100K`; `--large` or `1M` adds a million values).
 * In process it also checks that the data key is unwrapped once per file and that
 * re-encrypting an unchanged document keeps every ciphertext, and times both.
 *
 *     node dist/bench/sops.js                       # 10,000 and 100,000 values
 *     node dist/bench/sops.js --large               # and 1,000,000
 *     BENCH_SOPS_SIZES=10K BENCH_SOPS_SHAPES=dotenv,ini node dist/bench/sops.js
 *     node dist/bench/run.js sops [--large]         # and rewrite bench/README.md
 */
import { spawnSync } from "node:child_process"
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { performance } from "node:perf_hooks"
import { fileURLToPath, pathToFileURL } from "node:url"
import type { Identity, Stanza } from "../src/age/recipient.js"
import { generateX25519Identity } from "../src/age/x25519.js"
import { closeFile, encryptFile, openEncryptedFile, reencryptFile } from "../src/sops/index.js"

/** A document shape. */
export type SopsShape =
  "yaml flat" | "yaml nested" | "json flat" | "json nested" | "dotenv" | "ini" | "ini flat"

export const SOPS_SHAPES: readonly SopsShape[] = [
  "yaml flat",
  "yaml nested",
  "json flat",
  "json nested",
  "dotenv",
  "ini",
  "ini flat",
]

/** One process run. */
export interface SopsRun {
  readonly seconds: number
  /** User plus system CPU seconds, which load from elsewhere on the machine barely moves. */
  readonly cpuSeconds: number | undefined
  readonly peakRssKiB: number | undefined
  /** Stopped at the cap (then `seconds` is the cap). */
  readonly timedOut: boolean
  readonly failed: string | undefined
}

/** One shape at one size. */
export interface SopsCell {
  readonly shape: SopsShape
  readonly values: number
  readonly plainBytes: number
  readonly sopsEncrypt: SopsRun
  readonly cofferEncrypt: SopsRun
  readonly sopsDecrypt: SopsRun
  readonly cofferDecrypt: SopsRun
  /** Whether coffer's plaintext of sops's file is sops's plaintext. */
  readonly samePlaintext: boolean | undefined
}

/** In-process checks on a YAML file. */
export interface SopsInProcess {
  readonly values: number
  readonly decryptMs: number
  readonly reencryptMs: number
  readonly keptCiphertext: boolean
  readonly dataKeyUnwraps: number
}

/** The whole sops benchmark result. */
export interface SopsBenchResult {
  readonly sizes: readonly number[]
  readonly cells: readonly SopsCell[]
  readonly capSeconds: number
  readonly sopsVersion: string
  readonly inProcess: readonly SopsInProcess[]
  readonly command: string
}

/** Options for `runSopsBench`. */
export interface SopsBenchOptions {
  readonly sizes?: readonly number[]
  readonly shapes?: readonly SopsShape[]
  readonly capSeconds?: number
}

/** `failed` of a decryption not run: neither tool finished encrypting. */
const NOT_RUN = "not run: no encrypted file"

const repoRoot = fileURLToPath(new URL("../../", import.meta.url))
const cofferBin = join(repoRoot, "bin", "coffer")
const timeTool = "/usr/bin/time"

function sopsBinary(): string {
  const dir = process.env["COFFER_PEERS_DIR"] ?? join(repoRoot, ".peers", "bin")
  const path = join(dir, "sops")
  if (!existsSync(path)) {
    throw new Error(`the sops benchmark needs the real sops at ${path}: run npm run peers`)
  }
  return path
}

// ---------------------------------------------------------------- documents

function text(i: number): string {
  return `value number ${String(i)} with some text`
}

/** A plain tree of the benchmark documents. */
type Plain = string | number | boolean | readonly Plain[] | { readonly [key: string]: Plain }

function flatTree(values: number): Record<string, Plain> {
  const out: Record<string, Plain> = {}
  for (let i = 0; i < values; i++) out[`key_${String(i)}`] = text(i)
  return out
}

/** Sections of 100 values: a nested mapping of 10, a list of 10, typed and clear values. */
function nestedTree(values: number): Record<string, Plain> {
  const out: Record<string, Plain> = {}
  let made = 0
  for (let s = 0; made < values; s++) {
    const section: Record<string, Plain> = {}
    const inner: Record<string, Plain> = {}
    const list: Plain[] = []
    for (let i = 0; i < 100 && made < values; i++, made++) {
      if (i === 0) section["note_unencrypted"] = `visible ${String(made)}`
      else if (i === 1) section["port"] = 1000 + made
      else if (i === 2) section["enabled"] = made % 2 === 0
      else if (i === 3) section["ratio"] = Math.round((made / 7) * 1000) / 1000 + 0.0005
      else if (i < 80) section[`key_${String(i)}`] = text(made)
      else if (i < 90) inner[`inner_${String(i)}`] = text(made)
      else list.push(`host-${String(made)}.example.org`)
    }
    if (Object.keys(inner).length > 0) section["database"] = inner
    if (list.length > 0) section["hosts"] = list
    out[`section_${String(s)}`] = section
  }
  return out
}

function yamlOf(tree: Record<string, Plain>): string {
  const lines: string[] = []
  const write = (node: Plain, indent: string, key: string): void => {
    if (typeof node !== "object") {
      lines.push(`${indent}${key} ${String(node)}`)
    } else if (Array.isArray(node)) {
      lines.push(`${indent}${key}`)
      for (const item of node)
        lines.push(`${indent}    - ${typeof item === "string" ? item : JSON.stringify(item)}`)
    } else {
      lines.push(`${indent}${key}`)
      for (const [k, v] of Object.entries(node)) write(v, indent + "    ", `${k}:`)
    }
  }
  for (const [k, v] of Object.entries(tree)) write(v, "", `${k}:`)
  return lines.join("\n") + "\n"
}

function iniOf(values: number, perSection: number): string {
  const lines: string[] = []
  for (let i = 0; i < values; i++) {
    if (i % perSection === 0) {
      if (i > 0) lines.push("")
      lines.push(`[section_${String(i / perSection)}]`)
    }
    lines.push(`key_${String(i)} = ${text(i)}`)
  }
  return lines.join("\n") + "\n"
}

function dotenvOf(values: number): string {
  const lines: string[] = []
  for (let i = 0; i < values; i++) lines.push(`key_${String(i)}=${text(i)}`)
  return lines.join("\n") + "\n"
}

/**
 * The plaintext of a shape with `values` leaf values.
 * @returns the file's text and its suffix
 */
export function makeDocument(shape: SopsShape, values: number): { text: string; suffix: string } {
  switch (shape) {
    case "yaml flat":
      return { text: yamlOf(flatTree(values)), suffix: "yaml" }
    case "yaml nested":
      return { text: yamlOf(nestedTree(values)), suffix: "yaml" }
    case "json flat":
      return { text: JSON.stringify(flatTree(values), null, "\t") + "\n", suffix: "json" }
    case "json nested":
      return { text: JSON.stringify(nestedTree(values), null, "\t") + "\n", suffix: "json" }
    case "dotenv":
      return { text: dotenvOf(values), suffix: "env" }
    case "ini":
      return { text: iniOf(values, 100), suffix: "ini" }
    case "ini flat":
      return { text: iniOf(values, Number.MAX_SAFE_INTEGER), suffix: "ini" }
    default: {
      const never: never = shape
      return never
    }
  }
}

// ---------------------------------------------------------------- processes

function run(
  command: string,
  args: readonly string[],
  env: NodeJS.ProcessEnv,
  capSeconds: number,
  stdoutPath: string,
): SopsRun {
  const started = performance.now()
  const result = spawnSync(
    timeTool,
    [
      "-f",
      "coffer-bench %M %U %S",
      "-o",
      `${stdoutPath}.time`,
      "timeout",
      "-k",
      "5",
      String(capSeconds),
      "sh",
      "-c",
      'exec "$0" "$@" > "$COFFER_BENCH_OUT"',
      command,
      ...args,
    ],
    {
      env: { ...env, COFFER_BENCH_OUT: stdoutPath },
      stdio: ["ignore", "ignore", "pipe"],
      maxBuffer: 64 * 1024 * 1024,
    },
  )
  const seconds = (performance.now() - started) / 1000
  let peakRssKiB: number | undefined
  let cpuSeconds: number | undefined
  try {
    const match = /coffer-bench (\d+) ([\d.]+) ([\d.]+)/.exec(
      readFileSync(`${stdoutPath}.time`, "utf8"),
    )
    if (match !== null) {
      peakRssKiB = Number(match[1])
      cpuSeconds = Number(match[2]) + Number(match[3])
    }
  } catch {
    peakRssKiB = undefined
  }
  const timedOut = result.status === 124 || result.status === 137
  const stderr = result.stderr.toString("utf8")
  const failed =
    timedOut || result.status === 0
      ? undefined
      : (stderr.split("\n").find((l) => l.startsWith("error") || l.length > 0) ?? "failed")
  return { seconds: timedOut ? capSeconds : seconds, cpuSeconds, peakRssKiB, timedOut, failed }
}

function countValues(text: string): number {
  return (text.match(/ENC\[AES256_GCM,/g) ?? []).length
}

/**
 * Runs the benchmark.
 * @returns one cell per shape and size, and the in-process checks
 * @throws Error when the data key is unwrapped more than once or a ciphertext changes
 */
export async function runSopsBench(options: SopsBenchOptions = {}): Promise<SopsBenchResult> {
  const sizes = options.sizes ?? [10_000, 100_000]
  const shapes = options.shapes ?? SOPS_SHAPES
  const capSeconds = options.capSeconds ?? 60
  const sops = sopsBinary()
  const sopsVersion =
    /(\d+\.\d+\.\d+)/.exec(
      spawnSync(sops, ["--version", "--disable-version-check"]).stdout.toString(),
    )?.[1] ?? "unknown"
  const dir = mkdtempSync(
    join(
      process.env["BENCH_DIR"] ?? (existsSync("/dev/shm") ? "/dev/shm" : tmpdir()),
      "coffer-sops-bench-",
    ),
  )
  const age = generateX25519Identity()
  const recipient = age.toRecipient().encode()
  const keyFile = join(dir, "key.txt")
  writeFileSync(keyFile, `${age.encode()}\n`, { mode: 0o600 })
  // no .sops.yaml anywhere above: both tools take the recipient from the command line
  const env: NodeJS.ProcessEnv = {
    PATH: process.env["PATH"] ?? "/usr/bin:/bin",
    HOME: dir,
    SOPS_AGE_KEY_FILE: keyFile,
  }
  const cells: SopsCell[] = []
  try {
    for (const values of sizes) {
      for (const shape of shapes) {
        process.stderr.write(`  ${shape}, ${values.toLocaleString("en")} values…\n`)
        const { text, suffix } = makeDocument(shape, values)
        const plain = join(dir, `plain.${suffix}`)
        writeFileSync(plain, text)
        const sopsFile = join(dir, `sops.enc.${suffix}`)
        const cofferFile = join(dir, `coffer.enc.${suffix}`)
        const typeArgs = ["--input-type", suffix === "env" ? "dotenv" : suffix]
        const sopsEncrypt = run(
          sops,
          ["encrypt", "--age", recipient, ...typeArgs, plain],
          env,
          capSeconds,
          sopsFile,
        )
        const cofferEncrypt = run(
          cofferBin,
          ["encrypt", "--age", recipient, plain],
          env,
          capSeconds,
          cofferFile,
        )
        // both decrypt the same file: sops's (or coffer's when sops did not finish)
        const done = (r: SopsRun): boolean => !r.timedOut && r.failed === undefined
        const source = done(sopsEncrypt) ? sopsFile : cofferFile
        const sopsOut = join(dir, `sops.out.${suffix}`)
        const cofferOut = join(dir, `coffer.out.${suffix}`)
        const skipped: SopsRun = {
          seconds: 0,
          cpuSeconds: undefined,
          peakRssKiB: undefined,
          timedOut: false,
          failed: NOT_RUN,
        }
        const haveFile = done(sopsEncrypt) || done(cofferEncrypt)
        const sopsDecrypt = !haveFile
          ? skipped
          : run(sops, ["decrypt", ...typeArgs, source], env, capSeconds, sopsOut)
        const cofferDecrypt = !haveFile
          ? skipped
          : run(cofferBin, ["decrypt", source], env, capSeconds, cofferOut)
        let samePlaintext: boolean | undefined
        if (
          !sopsDecrypt.timedOut &&
          !cofferDecrypt.timedOut &&
          sopsDecrypt.failed === undefined &&
          cofferDecrypt.failed === undefined
        ) {
          samePlaintext = readFileSync(sopsOut).equals(readFileSync(cofferOut))
        }
        if (cofferEncrypt.failed === undefined && !cofferEncrypt.timedOut) {
          const written = countValues(readFileSync(cofferFile, "utf8"))
          if (written < values / 2) throw new Error(`${shape}: coffer wrote ${written} values`)
        }
        cells.push({
          shape,
          values,
          plainBytes: Buffer.byteLength(text),
          sopsEncrypt,
          cofferEncrypt,
          sopsDecrypt,
          cofferDecrypt,
          samePlaintext,
        })
        for (const f of [plain, sopsFile, cofferFile, sopsOut, cofferOut])
          rmSync(f, { force: true })
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
  const inProcess: SopsInProcess[] = []
  for (const values of sizes.filter((n) => n <= 100_000)) {
    inProcess.push(await measureInProcess(values, age, recipient))
  }
  const sizeText = sizes.map((n) => (n >= 1_000_000 ? `${n / 1_000_000}M` : `${n / 1000}K`))
  return {
    sizes,
    cells,
    capSeconds,
    sopsVersion,
    inProcess,
    command: `BENCH_SOPS_SIZES=${sizeText.join(",")} node dist/bench/sops.js`,
  }
}

// ---------------------------------------------------------------- in process

/** An identity that counts how often it is asked to unwrap a file key. */
function countingIdentity(inner: Identity): { identity: Identity; count: () => number } {
  let calls = 0
  return {
    identity: {
      unwrapFileKey(stanzas: readonly Stanza[]): Promise<Uint8Array | null> {
        calls++
        return inner.unwrapFileKey(stanzas)
      },
    },
    count: () => calls,
  }
}

function encryptedValues(text: string): string[] {
  return text.match(/ENC\[AES256_GCM,[^\]]*\]/g) ?? []
}

async function measureInProcess(
  values: number,
  age: Identity,
  recipient: string,
): Promise<SopsInProcess> {
  const plain = makeDocument("yaml nested", values).text
  const encrypted = await encryptFile(plain, "yaml", { keyGroups: [{ age: [recipient], pgp: [] }] })
  const counter = countingIdentity(age)
  let start = performance.now()
  const file = await openEncryptedFile(encrypted, "yaml", { identities: [counter.identity] })
  file.store.emit(file.doc)
  const decryptMs = performance.now() - start
  start = performance.now()
  const again = reencryptFile(file, file.doc)
  const reencryptMs = performance.now() - start
  closeFile(file)
  const before = encryptedValues(encrypted)
  const after = encryptedValues(again)
  // the MAC changes (new lastmodified); every value keeps its ciphertext
  const keptCiphertext =
    before.length === after.length && before.filter((v, i) => v !== after[i]).length <= 1
  if (counter.count() !== 1) throw new Error(`data key unwrapped ${counter.count()} times`)
  if (!keptCiphertext) throw new Error("re-encrypting an unchanged document changed ciphertext")
  return { values, decryptMs, reencryptMs, keptCiphertext, dataKeyUnwraps: counter.count() }
}

// ---------------------------------------------------------------- report

function seconds(r: SopsRun, cap: number): string {
  if (r.failed === NOT_RUN) return "n/a"
  if (r.timedOut) return `> ${String(cap)}`
  if (r.failed !== undefined) return "failed"
  return r.seconds.toFixed(2)
}

function ratio(coffer: SopsRun, sops: SopsRun): string {
  if (coffer.failed !== undefined || sops.failed !== undefined) return "n/a"
  if (coffer.timedOut && sops.timedOut) return "n/a"
  if (sops.timedOut) return `< ${(coffer.seconds / sops.seconds).toFixed(2)}x`
  if (coffer.timedOut) return `> ${(coffer.seconds / sops.seconds).toFixed(2)}x`
  return `${(coffer.seconds / sops.seconds).toFixed(2)}x`
}

function cpuRatio(coffer: SopsRun, sops: SopsRun): string {
  if (coffer.cpuSeconds === undefined || sops.cpuSeconds === undefined) return "n/a"
  if (coffer.timedOut || sops.timedOut || coffer.failed !== undefined || sops.failed !== undefined)
    return "n/a"
  return `${(coffer.cpuSeconds / sops.cpuSeconds).toFixed(2)}x`
}

function mib(kib: number | undefined): string {
  return kib === undefined ? "n/a" : `${(kib / 1024).toFixed(0)} MiB`
}

function growth(small: SopsRun | undefined, big: SopsRun): string {
  if (small === undefined || small.failed !== undefined || big.failed !== undefined) return "n/a"
  if (small.timedOut) return "n/a"
  const value = big.seconds / small.seconds
  return big.timedOut ? `> ${value.toFixed(1)}` : value.toFixed(1)
}

/**
 * Formats the result as a Markdown section for bench/README.md.
 * @returns the text
 */
export function formatSopsBench(result: SopsBenchResult): string {
  const cap = result.capSeconds
  const rows = result.cells.map((c) =>
    [
      c.shape,
      c.values.toLocaleString("en"),
      `${(c.plainBytes / 1024 / 1024).toFixed(1)} MiB`,
      seconds(c.sopsEncrypt, cap),
      seconds(c.cofferEncrypt, cap),
      ratio(c.cofferEncrypt, c.sopsEncrypt),
      cpuRatio(c.cofferEncrypt, c.sopsEncrypt),
      seconds(c.sopsDecrypt, cap),
      seconds(c.cofferDecrypt, cap),
      ratio(c.cofferDecrypt, c.sopsDecrypt),
      cpuRatio(c.cofferDecrypt, c.sopsDecrypt),
      mib(c.cofferEncrypt.peakRssKiB),
      mib(c.cofferDecrypt.peakRssKiB),
      c.samePlaintext === undefined ? "n/a" : c.samePlaintext ? "yes" : "**no**",
    ].join(" | "),
  )
  const growthRows: string[] = []
  for (let i = 1; i < result.sizes.length; i++) {
    const small = result.sizes[i - 1] ?? 0
    const big = result.sizes[i] ?? 0
    for (const c of result.cells.filter((x) => x.values === big)) {
      const s = result.cells.find((x) => x.values === small && x.shape === c.shape)
      growthRows.push(
        `| ${c.shape} | ${small.toLocaleString("en")} → ${big.toLocaleString("en")} | ${growth(s?.cofferEncrypt, c.cofferEncrypt)} | ${growth(s?.cofferDecrypt, c.cofferDecrypt)} | ${growth(s?.sopsEncrypt, c.sopsEncrypt)} | ${growth(s?.sopsDecrypt, c.sopsDecrypt)} |`,
      )
    }
  }
  const inProcess = result.inProcess.map(
    (r) =>
      `| ${r.values.toLocaleString("en")} | ${r.decryptMs.toFixed(0)} | ${r.reencryptMs.toFixed(0)} | ${r.keptCiphertext ? "yes" : "**no**"} | ${r.dataKeyUnwraps} |`,
  )
  return [
    `## sops: coffer vs sops ${result.sopsVersion}, YAML, JSON, dotenv and INI`,
    "",
    `\`${result.command}\`. Each run is a process (Node start-up included for coffer), wall time`,
    "in seconds; `coffer encrypt --age R FILE` against `sops encrypt --age R FILE`, then both decrypt",
    `the file sops wrote. \`> ${String(cap)}\` = stopped at the cap (BENCH_SOPS_TIMEOUT). Ratios are coffer/sops`,
    '(below 1: coffer is faster). Peak RSS of coffer from /usr/bin/time. "same": coffer\'s plaintext',
    "of sops's file is byte for byte sops's.",
    "",
    "| shape | values | plaintext | sops enc s | coffer enc s | enc ratio | enc CPU ratio | sops dec s | coffer dec s | dec ratio | dec CPU ratio | coffer RSS enc | coffer RSS dec | same |",
    "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|:---:|",
    ...rows.map((r) => `| ${r} |`),
    "",
    "Growth, time at the larger size / time at the smaller (10x the values; linear is 10, target at most 12):",
    "",
    "| shape | values | coffer enc | coffer dec | sops enc | sops dec |",
    "|---|---|---:|---:|---:|---:|",
    ...growthRows,
    "",
    "In process (nested YAML; ms): decrypt = parse, unwrap, authenticate, check the MAC, emit;",
    "re-encrypt = the decrypted document again, unchanged, with the same data key (IVs reused).",
    "",
    "| values | decrypt ms | re-encrypt ms | ciphertext kept | data-key unwraps |",
    "|---:|---:|---:|:---:|---:|",
    ...inProcess,
    "",
  ].join("\n")
}

/**
 * The options from the environment and argv (`--large`, BENCH_SOPS_SIZES, BENCH_SOPS_SHAPES,
 * BENCH_SOPS_TIMEOUT).
 * @returns the options
 */
export function sopsBenchOptionsFromEnvironment(argv: readonly string[]): SopsBenchOptions {
  const sizeText = process.env["BENCH_SOPS_SIZES"]
  let sizes: number[] =
    sizeText === undefined
      ? [10_000, 100_000]
      : sizeText.split(",").map((s) => {
          const m = /^(\d+)([KM]?)$/i.exec(s.trim())
          if (m === null) throw new Error(`BENCH_SOPS_SIZES: cannot read "${s}"`)
          const unit = (m[2] ?? "").toUpperCase()
          return Number(m[1]) * (unit === "K" ? 1000 : unit === "M" ? 1_000_000 : 1)
        })
  if (argv.includes("--large") && !sizes.includes(1_000_000)) sizes = [...sizes, 1_000_000]
  const shapeText = process.env["BENCH_SOPS_SHAPES"]
  const shapes =
    shapeText === undefined
      ? SOPS_SHAPES
      : shapeText.split(",").map((s) => {
          const shape = SOPS_SHAPES.find((x) => x === s.trim().replace(/-/g, " "))
          if (shape === undefined)
            throw new Error(`BENCH_SOPS_SHAPES: unknown shape "${s}" (${SOPS_SHAPES.join(", ")})`)
          return shape
        })
  const cap = Number(process.env["BENCH_SOPS_TIMEOUT"] ?? 60)
  return { sizes, shapes, capSeconds: cap }
}

const invokedDirectly =
  process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href
if (invokedDirectly) {
  const result = await runSopsBench(sopsBenchOptionsFromEnvironment(process.argv.slice(2)))
  process.stdout.write(formatSopsBench(result))
}
