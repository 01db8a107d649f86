/**
 * The host install benchmark (issue 5 "Performance"): `coffer install` of 1,000 secrets
 * drawn from 10 sops YAML files (100 keys each, one age X25519 host key), on a real ramfs
 * in a private mount namespace (`unshare --mount --propagation private`, so nothing is
 * mounted on the host). Needs root; without it the suite reports that it was skipped.
 *
 * Reported: the in-process install time (first install, then a second install of the same
 * values, which reads the previous generation to compare), time per secret, how many times
 * each file was decrypted (must be 1), the whole `coffer install` command as a process, and
 * what decrypting once per secret (as sops-install-secrets does,
 * docs/host/sops-nix-manifest.md "The install, step by step" step 6) would cost, measured
 * on one file.
 *
 * Run alone with `node dist/bench/install.js`, or through `node dist/bench/run.js install`.
 * The child mode (`--child MANIFEST`) is what runs inside the namespace.
 */
import { spawnSync } from "node:child_process"
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { performance } from "node:perf_hooks"
import { fileURLToPath, pathToFileURL } from "node:url"
import { generateX25519Identity } from "../src/age/x25519.js"
import { closeFile, encryptFile, openEncryptedFile } from "../src/sops/index.js"
import { installManifest } from "../src/host/apply.js"
import { systemHostFs } from "../src/host/host-fs.js"
import { parseManifest } from "../src/host/manifest.js"

const repoRoot = fileURLToPath(new URL("../../", import.meta.url))
const FILES = 10
const KEYS_PER_FILE = 100

/** What one child run measured. */
interface ChildResult {
  readonly firstMs: number
  readonly secondMs: number
  readonly files: number
  readonly secrets: number
  readonly maxDecryptionsPerFile: number
  readonly minDecryptionsPerFile: number
  readonly failures: number
}

/** The install benchmark's results. */
export interface InstallBenchResult {
  readonly skipped: string | undefined
  readonly child: ChildResult | undefined
  /** `coffer install` as a process (Node start-up included), first install. */
  readonly cliMs: number | undefined
  /** One file decrypted once (median of 5), in ms. */
  readonly decryptOnceMs: number | undefined
  /** The same file decrypted once per secret (100 times), in ms. */
  readonly decryptPerSecretMs: number | undefined
}

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.floor(sorted.length / 2)] ?? Number.NaN
}

async function childMain(manifestPath: string): Promise<void> {
  const manifest = parseManifest(readFileSync(manifestPath, "utf8"), manifestPath)
  const quiet = {
    note: (): void => undefined,
    warn: (line: string): void => void process.stderr.write(`${line}\n`),
  }
  const options = {
    dryRun: false,
    ignorePasswd: false,
    checkMode: "off",
    allowPersistent: false,
    phase: "all",
  } as const
  const environment = { fs: systemHostFs(), env: process.env, log: quiet }
  let started = performance.now()
  const first = await installManifest(manifest, options, environment)
  const firstMs = performance.now() - started
  started = performance.now()
  await installManifest(manifest, options, environment)
  const secondMs = performance.now() - started
  const counts = first.phases.flatMap((p) => [...p.decryptions.values()])
  const result: ChildResult = {
    firstMs,
    secondMs,
    files: counts.length,
    secrets: manifest.secrets.length,
    maxDecryptionsPerFile: Math.max(...counts),
    minDecryptionsPerFile: Math.min(...counts),
    failures: first.failures.length,
  }
  process.stdout.write(JSON.stringify(result))
}

/**
 * Runs the benchmark.
 * @returns the measurements, or `skipped` with the reason
 */
export async function runInstallBench(): Promise<InstallBenchResult> {
  const none = {
    child: undefined,
    cliMs: undefined,
    decryptOnceMs: undefined,
    decryptPerSecretMs: undefined,
  }
  if (process.getuid?.() !== 0) return { skipped: "needs root (mounts a ramfs)", ...none }
  const dir = mkdtempSync(join(tmpdir(), "coffer-bench-install-"))
  try {
    const identity = generateX25519Identity()
    const recipient = identity.toRecipient().encode()
    const keyFile = join(dir, "host-key.txt")
    writeFileSync(keyFile, `${identity.encode()}\n`, { mode: 0o600 })
    const secrets: Record<string, unknown>[] = []
    for (let f = 0; f < FILES; f++) {
      const lines: string[] = []
      for (let k = 0; k < KEYS_PER_FILE; k++)
        lines.push(`secret_${String(k)}: value-${String(f)}-${String(k)}-${"x".repeat(24)}`)
      const path = join(dir, `file-${String(f)}.yaml`)
      writeFileSync(
        path,
        await encryptFile(`${lines.join("\n")}\n`, "yaml", {
          keyGroups: [{ age: [recipient], pgp: [] }],
        }),
      )
      for (let k = 0; k < KEYS_PER_FILE; k++) {
        const name = `f${String(f)}/secret_${String(k)}`
        secrets.push({
          name,
          key: `secret_${String(k)}`,
          sopsFile: path,
          format: "yaml",
          mode: "0400",
          path: `${dir}/run/secrets/${name}`,
        })
      }
    }
    const manifestPath = join(dir, "manifest.json")
    writeFileSync(
      manifestPath,
      JSON.stringify({
        secrets,
        secretsMountPoint: `${dir}/run/secrets.d`,
        symlinkPath: `${dir}/run/secrets`,
        keepGenerations: 1,
        ageKeyFile: keyFile,
        logging: { keyImport: false, secretChanges: false },
      }),
    )
    const self = fileURLToPath(import.meta.url)
    const child = spawnSync(
      "unshare",
      [
        "--mount",
        "--propagation",
        "private",
        "--",
        process.execPath,
        self,
        "--child",
        manifestPath,
      ],
      {
        encoding: "utf8",
      },
    )
    if (child.status !== 0) throw new Error(`install child failed: ${child.stderr}`)
    const childResult = JSON.parse(child.stdout) as ChildResult

    const cliRuns: number[] = []
    for (let i = 0; i < 3; i++) {
      const started = performance.now()
      const r = spawnSync(
        "unshare",
        [
          "--mount",
          "--propagation",
          "private",
          "--",
          join(repoRoot, "bin", "coffer"),
          "install",
          manifestPath,
        ],
        {
          encoding: "utf8",
        },
      )
      cliRuns.push(performance.now() - started)
      if (r.status !== 0) throw new Error(`coffer install failed: ${r.stderr}`)
    }

    // what once-per-secret decryption costs, on one file
    const text = readFileSync(join(dir, "file-0.yaml"), "utf8")
    const once: number[] = []
    for (let i = 0; i < 5; i++) {
      const started = performance.now()
      closeFile(await openEncryptedFile(text, "yaml", { identities: [identity] }))
      once.push(performance.now() - started)
    }
    const started = performance.now()
    for (let i = 0; i < KEYS_PER_FILE; i++)
      closeFile(await openEncryptedFile(text, "yaml", { identities: [identity] }))
    const perSecret = performance.now() - started
    return {
      skipped: undefined,
      child: childResult,
      cliMs: median(cliRuns),
      decryptOnceMs: median(once),
      decryptPerSecretMs: perSecret,
    }
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}

/**
 * The README section.
 * @param result from `runInstallBench`
 * @returns markdown
 */
export function formatInstallBench(result: InstallBenchResult): string {
  const title = "## install: 1,000 secrets from 10 sops files"
  if (result.skipped !== undefined || result.child === undefined) {
    return [title, "", `Skipped: ${result.skipped ?? "no result"}.`, ""].join("\n")
  }
  const c = result.child
  const ms = (n: number | undefined): string => (n === undefined ? "n/a" : n.toFixed(1))
  return [
    title,
    "",
    `${String(c.secrets)} secrets, ${String(c.files)} sops YAML files of ${String(KEYS_PER_FILE)} keys, one age X25519 host key,`,
    "written to a ramfs in a private mount namespace (generation, owners, modes, fsync, symlink switch, prune).",
    "",
    "| measurement | ms | per secret |",
    "|---|---:|---:|",
    `| first install (in-process) | ${ms(c.firstMs)} | ${(c.firstMs / c.secrets).toFixed(3)} |`,
    `| second install, same values (reads and compares generation 1) | ${ms(c.secondMs)} | ${(c.secondMs / c.secrets).toFixed(3)} |`,
    `| \`coffer install\` as a process (median of 3, Node start-up included) | ${ms(result.cliMs)} | ${result.cliMs === undefined ? "n/a" : (result.cliMs / c.secrets).toFixed(3)} |`,
    "",
    `Decryptions per file: ${String(c.minDecryptionsPerFile)}–${String(c.maxDecryptionsPerFile)} (must be 1); failures: ${String(c.failures)}.`,
    `One file decrypted once: ${ms(result.decryptOnceMs)} ms; the same file decrypted once per secret (${String(KEYS_PER_FILE)}×, as sops-install-secrets does): ${ms(result.decryptPerSecretMs)} ms, so ×${String(FILES)} files ≈ ${result.decryptPerSecretMs === undefined ? "n/a" : ((result.decryptPerSecretMs * FILES) / 1000).toFixed(2)} s of decryption alone.`,
    "",
  ].join("\n")
}

const invokedDirectly =
  process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href
if (invokedDirectly) {
  const childAt = process.argv.indexOf("--child")
  const manifestArg = childAt === -1 ? undefined : process.argv[childAt + 1]
  if (manifestArg !== undefined) await childMain(manifestArg)
  else process.stdout.write(formatInstallBench(await runInstallBench()))
}
