/**
 * The Tailscale join benchmark (docs/tailscale.md): on a loopback tailnet (the real
 * headscale 0.29.2 and tailscaled 1.102.5 from `scripts/peers.sh`), how long a fresh host
 * takes from the start of `coffer install` to `BackendState=Running`, next to the bare
 * client joining with a key already in a file, and how many client calls `coffer tailscale
 * up` makes on a host that has already joined.
 *
 * Each round gets a fresh tailscaled (its own state directory) and a fresh single-use key
 * of the shared headscale, encrypted into a sops file for the host's age key. The coffer
 * side runs, in a private mount namespace (install mounts a ramfs), `coffer install
 * MANIFEST && coffer tailscale up --manifest MANIFEST`, timed as one command; the peer side
 * runs `tailscale up --reset --auth-key=file:KEY …` on another fresh tailscaled. Rounds
 * alternate coffer and peer so load from other work hits both alike. The ratio is
 * coffer / peer: what decrypting, installing and the idempotence checks add to a join.
 *
 * Run alone with `node dist/bench/tailscale.js`, or through `node dist/bench/run.js
 * tailscale`. Needs root (the ramfs) and the peers; without them the suite says so.
 */
import { spawnSync } from "node:child_process"
import { mkdtempSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { performance } from "node:perf_hooks"
import { fileURLToPath, pathToFileURL } from "node:url"
import { generateX25519Identity } from "../src/age/x25519.js"
import { encryptFile } from "../src/sops/index.js"
import {
  findLoopbackBinaries,
  startHeadscale,
  startTailscaled,
  type LoopbackBinaries,
} from "../src/integrations/tailscale/loopback.js"

const repoRoot = fileURLToPath(new URL("../../", import.meta.url))
const cofferBin = join(repoRoot, "bin", "coffer")
const ROUNDS = Number(process.env["BENCH_TAILSCALE_ROUNDS"] ?? "5")

/** The Tailscale benchmark's results. */
export interface TailscaleBenchResult {
  readonly skipped: string | undefined
  readonly rounds: number
  /** `coffer install` + `coffer tailscale up` to Running, each round, in ms. */
  readonly cofferMs: readonly number[]
  /** The bare `tailscale up --auth-key=file:` to Running, each round, in ms. */
  readonly peerMs: readonly number[]
  /** Client calls of a second `coffer tailscale up` on the joined host, and what they were. */
  readonly rejoinCalls: readonly (readonly string[])[]
  /** Wall time of that second run, in ms. */
  readonly rejoinMs: number
  readonly versions: string
}

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b)
  const mid = Math.floor(sorted.length / 2)
  if (sorted.length === 0) return Number.NaN
  return sorted.length % 2 === 1
    ? (sorted[mid] ?? Number.NaN)
    : ((sorted[mid - 1] ?? 0) + (sorted[mid] ?? 0)) / 2
}

function run(command: string, args: readonly string[], cwd: string): number {
  const started = performance.now()
  const r = spawnSync(command, args, { cwd, encoding: "utf8", timeout: 120_000 })
  const ms = performance.now() - started
  if (r.status !== 0) {
    throw new Error(`${command} ${args.join(" ")} failed (${String(r.status)}): ${r.stderr}`)
  }
  return ms
}

/**
 * Runs the benchmark.
 * @returns the measurements, or `skipped` with the reason
 */
export async function runTailscaleBench(): Promise<TailscaleBenchResult> {
  const empty = { rounds: 0, cofferMs: [], peerMs: [], rejoinCalls: [], rejoinMs: Number.NaN }
  if (process.getuid?.() !== 0) {
    return { skipped: "needs root (install mounts a ramfs)", versions: "", ...empty }
  }
  const peersDir = process.env["COFFER_PEERS_DIR"] ?? join(repoRoot, ".peers", "bin")
  const { found, missing } = findLoopbackBinaries([peersDir], undefined)
  if (missing.length > 0) {
    return {
      skipped: `${missing.join(", ")} not built (npm run peers)`,
      versions: "",
      ...empty,
    }
  }
  const binaries = found as LoopbackBinaries
  const cleanups: (() => void | Promise<void>)[] = []
  const cleanup = (fn: () => void | Promise<void>): void => {
    cleanups.push(fn)
  }
  const dir = mkdtempSync(join(tmpdir(), "coffer-bench-ts-"))
  try {
    const headscale = await startHeadscale(binaries.headscale, cleanup, { parent: dir })
    const user = headscale.createUser("bench")
    const identity = generateX25519Identity()
    const keyFile = join(dir, "host-key.txt")
    writeFileSync(keyFile, `${identity.encode()}\n`, { mode: 0o600 })
    const cofferMs: number[] = []
    const peerMs: number[] = []
    let lastSocket = ""
    for (let round = 0; round < ROUNDS; round++) {
      const roundDir = mkdtempSync(join(dir, `round-${String(round)}-`))
      // coffer: decrypt the key from a sops file, install it, join
      const cofferNode = await startTailscaled(binaries, cleanup, { parent: roundDir })
      const sopsFile = join(roundDir, "tailscale.yaml")
      writeFileSync(
        sopsFile,
        await encryptFile(
          `tailscale_authkey: ${headscale.createKey({ user, expiration: "1h" })}\n`,
          "yaml",
          { keyGroups: [{ age: [identity.toRecipient().encode()], pgp: [] }] },
        ),
      )
      const manifestPath = join(roundDir, "manifest.json")
      writeFileSync(
        manifestPath,
        JSON.stringify({
          secrets: [{ name: "tailscale_authkey", sopsFile, format: "yaml", mode: "0400" }],
          secretsMountPoint: join(roundDir, "run/secrets.d"),
          symlinkPath: join(roundDir, "run/secrets"),
          ageKeyFile: keyFile,
          tailscale: {
            authKeySecret: "tailscale_authkey",
            hostname: `bench-coffer-${String(round)}`,
            loginServer: headscale.url,
            socket: cofferNode.socket,
            acceptDns: false,
            timeout: "90s",
          },
        }),
      )
      const script = `"$0" install "$1" >/dev/null && "$0" tailscale up --manifest "$1" --tailscale "$2" >/dev/null`
      cofferMs.push(
        run(
          "unshare",
          [
            "--mount",
            "--propagation",
            "private",
            "--",
            "sh",
            "-c",
            script,
            cofferBin,
            manifestPath,
            binaries.tailscale,
          ],
          roundDir,
        ),
      )
      lastSocket = cofferNode.socket
      // the peer: the key already in a file, the client joins
      const peerNode = await startTailscaled(binaries, cleanup, { parent: roundDir })
      const plainKey = join(roundDir, "peer-key")
      writeFileSync(plainKey, headscale.createKey({ user, expiration: "1h" }), { mode: 0o600 })
      peerMs.push(
        run(
          binaries.tailscale,
          [
            `--socket=${peerNode.socket}`,
            "up",
            "--reset",
            `--login-server=${headscale.url}`,
            `--auth-key=file:${plainKey}`,
            `--hostname=bench-peer-${String(round)}`,
            "--accept-dns=false",
            "--timeout=90s",
          ],
          roundDir,
        ),
      )
    }
    // an already-joined host: the last coffer node, again (the key is not needed: the
    // installed generation went with the namespace, and nothing may read it)
    const started = performance.now()
    const again = spawnSync(
      process.execPath,
      [
        cofferBin,
        "tailscale",
        "up",
        `--socket=${lastSocket}`,
        `--login-server=${headscale.url}`,
        `--hostname=bench-coffer-${String(ROUNDS - 1)}`,
        "--accept-dns=false",
        `--tailscale=${binaries.tailscale}`,
        "--json",
      ],
      { encoding: "utf8", timeout: 60_000 },
    )
    const rejoinMs = performance.now() - started
    if (again.status !== 0) throw new Error(`second coffer tailscale up failed: ${again.stderr}`)
    const report = JSON.parse(again.stdout) as { calls?: string[][] }
    const version = spawnSync(binaries.tailscale, ["version"], { encoding: "utf8" }).stdout
    const hsVersion = spawnSync(binaries.headscale, ["version"], { encoding: "utf8" }).stdout
    return {
      skipped: undefined,
      rounds: ROUNDS,
      cofferMs,
      peerMs,
      rejoinCalls: report.calls ?? [],
      rejoinMs,
      // built without VCS stamping, the client calls itself "1.102.5-ERR-BuildInfo"
      versions: `tailscale ${(version.split("\n")[0] ?? "?").replace(/-ERR-BuildInfo$/, "")}, ${(hsVersion.split("\n")[0] ?? "headscale ?").replace(" version ", " ")}`,
    }
  } finally {
    for (const fn of cleanups.reverse()) await fn()
    rmSync(dir, { recursive: true, force: true })
  }
}

/** @returns the README section for the results */
export function formatTailscaleBench(result: TailscaleBenchResult): string {
  const lines = ["## Tailscale join", ""]
  if (result.skipped !== undefined) {
    lines.push(`Skipped: ${result.skipped}.`, "")
    return lines.join("\n")
  }
  const coffer = median(result.cofferMs)
  const peer = median(result.peerMs)
  const seconds = (ms: number): string => `${(ms / 1000).toFixed(2)} s`
  lines.push(
    `A fresh host on a loopback tailnet (${result.versions}, embedded DERP, tailscaled in ` +
      `userspace networking), median of ${String(result.rounds)} rounds, coffer and the bare ` +
      "client alternating. coffer: `coffer install` of a sops file with the key (a ramfs in a " +
      "private mount namespace) then `coffer tailscale up --manifest`, timed from the start of " +
      "the install to `BackendState=Running`. The bare client: `tailscale up --reset " +
      "--auth-key=file:KEY` with the key already in a plain file. Most of either time is the " +
      "client and headscale (node registration, the first DERP connection).",
    "",
    "| | median | rounds |",
    "|---|---|---|",
    `| coffer install + coffer tailscale up | ${seconds(coffer)} | ${result.cofferMs.map(seconds).join(", ")} |`,
    `| tailscale up (the peer) | ${seconds(peer)} | ${result.peerMs.map(seconds).join(", ")} |`,
    `| ratio coffer / peer | ${(coffer / peer).toFixed(2)}x | |`,
    "",
    `On the host that has already joined, a second \`coffer tailscale up\` made ${String(result.rejoinCalls.length)} client`,
    `call(s) in ${seconds(result.rejoinMs)}, read-only, no login and no key read:`,
    "",
    ...result.rejoinCalls.map((c) => `- \`tailscale ${c.join(" ")}\``),
    "",
  )
  return lines.join("\n")
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? "").href) {
  const result = await runTailscaleBench()
  process.stdout.write(`${formatTailscaleBench(result)}\n`)
}
