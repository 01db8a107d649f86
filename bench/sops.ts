/**
 * The sops benchmark (MISSION.md "Performance targets": decrypting a 10,000-value YAML
 * file and re-encrypting it unchanged scale linearly; the data key is unwrapped once per
 * file), with `sops-age` from npm on the same files for comparison (spec/js-sops-peers.md).
 *
 * For 1,000, 5,000 and 10,000 values it measures, in process (median of a few runs):
 * encrypting the plaintext (new data key), decrypting (parse, unwrap, authenticate every
 * value, check the MAC, emit), re-encrypting the decrypted document unchanged (same data
 * key, IVs reused: the output must keep every ciphertext), and sops-age decrypting the same
 * file. It also times `coffer decrypt` end to end on the largest file, and counts how many
 * times the age identity is asked to unwrap the data key while decrypting (must be 1).
 *
 * Run alone with `node dist/bench/sops.js [--quick]`, or through the bench runner.
 */
import { spawnSync } from "node:child_process"
import { mkdtempSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { performance } from "node:perf_hooks"
import { fileURLToPath, pathToFileURL } from "node:url"
import { decryptSops } from "sops-age"
import type { Identity, Stanza } from "../src/age/recipient.js"
import { generateX25519Identity } from "../src/age/x25519.js"
import { closeFile, encryptFile, openEncryptedFile, reencryptFile } from "../src/sops/index.js"

/** One measured size. */
export interface SopsBenchSize {
  readonly values: number
  readonly fileBytes: number
  readonly encryptMs: number
  readonly decryptMs: number
  readonly reencryptMs: number
  /** Whether the unchanged re-encryption kept every value's ciphertext. */
  readonly reencryptKeptCiphertext: boolean
  readonly sopsAgeDecryptMs: number
  /** How many times the age identity was asked to unwrap the data key in one decryption. */
  readonly dataKeyUnwraps: number
}

/** The whole sops benchmark result. */
export interface SopsBenchResult {
  readonly sizes: readonly SopsBenchSize[]
  /** `coffer decrypt FILE` as a process on the largest file (includes Node start-up). */
  readonly cliDecryptMs: number | undefined
  /** Decrypt time per value at the largest size divided by that at the smallest (1 = linear). */
  readonly decryptLinearity: number
  readonly reencryptLinearity: number
}

/** Options for `runSopsBench`. */
export interface SopsBenchOptions {
  readonly sizes?: readonly number[]
  /** Runs per measurement; the median is kept. */
  readonly repeats?: number
  /** Also time `bin/coffer decrypt` (needs a build). */
  readonly cli?: boolean
}

const repoRoot = fileURLToPath(new URL("../../", import.meta.url))

/**
 * A YAML document with `values` leaf values: sections of 100 keys, mixed types, a list per
 * section, and one `_unencrypted` value per section (which stays clear but is in the MAC).
 * @returns the YAML text
 */
export function makeYaml(values: number): string {
  const lines: string[] = []
  let made = 0
  for (let section = 0; made < values; section++) {
    lines.push(`section_${section}:`)
    for (let i = 0; i < 100 && made < values; i++, made++) {
      const n = made
      if (i === 0) lines.push(`    note_unencrypted: visible ${n}`)
      else if (i === 1) lines.push(`    port: ${1000 + n}`)
      else if (i === 2) lines.push(`    enabled: ${n % 2 === 0 ? "true" : "false"}`)
      else if (i === 3) lines.push(`    ratio: ${(n / 7).toFixed(3)}`)
      else if (i >= 90) {
        if (i === 90) lines.push(`    hosts:`)
        lines.push(`        - host-${n}.example.org`)
      } else lines.push(`    key_${i}: secret value number ${n} with some text`)
    }
  }
  return lines.join("\n") + "\n"
}

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

async function median(repeats: number, run: () => Promise<void>): Promise<number> {
  const times: number[] = []
  for (let i = 0; i < repeats; i++) {
    const start = performance.now()
    await run()
    times.push(performance.now() - start)
  }
  times.sort((a, b) => a - b)
  return times[Math.floor(times.length / 2)] ?? Number.NaN
}

function encryptedValues(text: string): string[] {
  return text.match(/ENC\[AES256_GCM,[^\]]*\]/g) ?? []
}

/**
 * Runs the benchmark.
 * @returns timings per size, the unwrap count and linearity ratios
 * @throws Error when a check fails (an unwrap count other than 1, a changed ciphertext)
 */
export async function runSopsBench(options: SopsBenchOptions = {}): Promise<SopsBenchResult> {
  const sizes = options.sizes ?? [1000, 5000, 10000]
  const repeats = options.repeats ?? 3
  const age = generateX25519Identity()
  const recipient = age.toRecipient().encode()
  const secretKey = age.encode()
  const results: SopsBenchSize[] = []
  let largest: string | undefined

  // Warm up the JIT so the smallest size is not measured cold (that would flatter linearity).
  const warm = await encryptFile(makeYaml(500), "yaml", {
    keyGroups: [{ age: [recipient], pgp: [] }],
  })
  for (let i = 0; i < 3; i++) {
    const file = await openEncryptedFile(warm, "yaml", { identities: [age] })
    reencryptFile(file, file.doc)
    closeFile(file)
    await decryptSops(warm, { secretKey, fileType: "yaml" })
  }

  for (const values of sizes) {
    const plain = makeYaml(values)
    let encrypted = ""
    const encryptMs = await median(repeats, async () => {
      encrypted = await encryptFile(plain, "yaml", { keyGroups: [{ age: [recipient], pgp: [] }] })
    })
    largest = encrypted

    const counter = countingIdentity(age)
    const first = await openEncryptedFile(encrypted, "yaml", { identities: [counter.identity] })
    const dataKeyUnwraps = counter.count()
    closeFile(first)
    if (dataKeyUnwraps !== 1)
      throw new Error(`data key unwrapped ${dataKeyUnwraps} times for one file`)

    const decryptMs = await median(repeats, async () => {
      const file = await openEncryptedFile(encrypted, "yaml", { identities: [age] })
      file.store.emit(file.doc)
      closeFile(file)
    })

    let again = ""
    const reencryptTimes: number[] = []
    for (let i = 0; i < repeats; i++) {
      const file = await openEncryptedFile(encrypted, "yaml", { identities: [age] })
      const start = performance.now()
      again = reencryptFile(file, file.doc)
      reencryptTimes.push(performance.now() - start)
      closeFile(file)
    }
    reencryptTimes.sort((a, b) => a - b)
    const reencryptMs = reencryptTimes[Math.floor(reencryptTimes.length / 2)] ?? Number.NaN
    const before = encryptedValues(encrypted)
    const after = encryptedValues(again)
    // The MAC changes (new lastmodified); every value keeps its ciphertext.
    const kept =
      before.length === after.length && before.filter((v, i) => v !== after[i]).length <= 1

    const sopsAgeDecryptMs = await median(repeats, async () => {
      await decryptSops(encrypted, { secretKey, fileType: "yaml" })
    })

    results.push({
      values,
      fileBytes: Buffer.byteLength(encrypted),
      encryptMs,
      decryptMs,
      reencryptMs,
      reencryptKeptCiphertext: kept,
      sopsAgeDecryptMs,
      dataKeyUnwraps,
    })
  }

  let cliDecryptMs: number | undefined
  if (options.cli !== false && largest !== undefined)
    cliDecryptMs = timeCli(largest, secretKey, repeats)

  const perValue = (r: SopsBenchSize | undefined, field: "decryptMs" | "reencryptMs"): number =>
    r === undefined ? Number.NaN : r[field] / r.values
  const small = results[0]
  const big = results.at(-1)
  return {
    sizes: results,
    cliDecryptMs,
    decryptLinearity: perValue(big, "decryptMs") / perValue(small, "decryptMs"),
    reencryptLinearity: perValue(big, "reencryptMs") / perValue(small, "reencryptMs"),
  }
}

/** Times `bin/coffer decrypt` on a file (median of `repeats`), or undefined without a build. */
function timeCli(encrypted: string, secretKey: string, repeats: number): number | undefined {
  const dir = mkdtempSync(join(tmpdir(), "coffer-bench-"))
  try {
    const file = join(dir, "big.yaml")
    const keyFile = join(dir, "key.txt")
    writeFileSync(file, encrypted)
    writeFileSync(keyFile, `${secretKey}\n`, { mode: 0o600 })
    const times: number[] = []
    for (let i = 0; i < repeats; i++) {
      const start = performance.now()
      const r = spawnSync(join(repoRoot, "bin/coffer"), ["decrypt", file], {
        env: { ...process.env, SOPS_AGE_KEY_FILE: keyFile, HOME: dir },
        stdio: ["ignore", "ignore", "pipe"],
      })
      if (r.status !== 0) return undefined
      times.push(performance.now() - start)
    }
    times.sort((a, b) => a - b)
    return times[Math.floor(times.length / 2)]
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}

/**
 * Formats the result as a Markdown section for bench/README.md.
 * @returns the text
 */
export function formatSopsBench(result: SopsBenchResult): string {
  const ms = (n: number | undefined): string => (n === undefined ? "n/a" : n.toFixed(1))
  const rows = result.sizes.map(
    (s) =>
      `| ${s.values.toLocaleString("en")} | ${(s.fileBytes / 1024).toFixed(0)} KiB | ${ms(s.encryptMs)} | ${ms(s.decryptMs)} | ${ms(s.reencryptMs)} | ${s.reencryptKeptCiphertext ? "yes" : "**no**"} | ${ms(s.sopsAgeDecryptMs)} | ${s.dataKeyUnwraps} |`,
  )
  return [
    "## sops: YAML files of 1,000 to 10,000 values",
    "",
    "In-process times in ms (median). Decrypt = parse, unwrap the data key, authenticate every",
    "value, check the MAC, emit YAML. Re-encrypt = the decrypted document encrypted again unchanged",
    "with the same data key (IVs reused). sops-age 4.0.2 decrypts the same file (it does not check the MAC).",
    "",
    "| values | file | coffer encrypt | coffer decrypt | coffer re-encrypt | ciphertext kept | sops-age decrypt | data-key unwraps |",
    "|---:|---:|---:|---:|---:|:---:|---:|---:|",
    ...rows,
    "",
    `Per-value cost at the largest size relative to the smallest (1.0 = linear): decrypt ${result.decryptLinearity.toFixed(2)}, re-encrypt ${result.reencryptLinearity.toFixed(2)}.`,
    `\`coffer decrypt\` of the largest file as a process (including Node start-up): ${ms(result.cliDecryptMs)} ms.`,
    "",
  ].join("\n")
}

const invokedDirectly =
  process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href
if (invokedDirectly) {
  const quick = process.argv.includes("--quick")
  const result = await runSopsBench(quick ? { sizes: [1000, 2000], repeats: 1 } : {})
  process.stdout.write(formatSopsBench(result))
}
