/**
 * The real AWS KMS emulator for tests: `local-kms` (github.com/nsmithuk/local-kms, built by
 * scripts/peers.sh), seeded with keys from a file. It listens on every interface of its
 * network namespace, so it runs in a fresh one (`unshare --net`) that has only a loopback
 * device; coffer and sops run in the same namespace through `nsenter`, so nothing is
 * reachable from outside the machine. The emulator is killed by PID after the test and
 * its data folder removed.
 */
import { spawn } from "node:child_process"
import { mkdtempSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import type { TestContext } from "node:test"
import { binPath, runCommand } from "./cli.js"
import type { RunOptions, RunResult } from "./cli.js"

/** The emulator's account and region (its defaults). */
export const KMS_ACCOUNT = "111122223333"
export const KMS_REGION = "eu-west-2"

/** One seeded AES key. */
export interface SeedKey {
  readonly id: string
  /** 32-byte backing key, hex. */
  readonly backingKey: string
  readonly alias?: string
}

/** A started emulator. */
export interface LocalKms {
  /** The endpoint inside the namespace (`http://127.0.0.1:PORT`). */
  readonly endpoint: string
  /** @returns the ARN of a seeded key */
  arn(id: string): string
  /** The variables that point the AWS SDKs (coffer's and sops's) at it, with test keys. */
  readonly env: Readonly<Record<string, string>>
  /** Runs `bin/coffer ARGS` inside the namespace. */
  coffer(args: readonly string[], opts?: RunOptions): Promise<RunResult>
  /** Runs any program inside the namespace. */
  run(command: string, args: readonly string[], opts?: RunOptions): Promise<RunResult>
  /** Calls a KMS API action directly (`DisableKey`…): the emulator checks no signature. */
  call(action: string, body: unknown): Promise<RunResult>
}

const PORT = 4599

/**
 * Starts the emulator with seeded keys.
 * @param t the test (cleanup is registered on it)
 * @param localKms the emulator's path (`requirePeer(t, "local-kms")`)
 * @param keys the keys to seed
 */
export async function startLocalKms(
  t: TestContext,
  localKms: string,
  keys: readonly SeedKey[],
): Promise<LocalKms> {
  const dir = mkdtempSync(join(tmpdir(), "coffer-kms-"))
  const seed = [
    "Keys:",
    "  Symmetric:",
    "    Aes:",
    ...keys.flatMap((k) => [
      "      - Metadata:",
      `          KeyId: ${k.id}`,
      "        BackingKeys:",
      `          - ${k.backingKey}`,
    ]),
    "Aliases:",
    ...keys
      .filter((k) => k.alias !== undefined)
      .flatMap((k) => [`  - AliasName: ${k.alias ?? ""}`, `    TargetKeyId: ${k.id}`]),
    "",
  ].join("\n")
  writeFileSync(join(dir, "seed.yaml"), seed)
  const child = spawn(
    "unshare",
    ["--net", "--", "sh", "-c", 'ip link set lo up && exec "$0"', localKms],
    {
      env: {
        PATH: process.env["PATH"] ?? "/usr/bin:/bin",
        PORT: String(PORT),
        KMS_SEED_PATH: join(dir, "seed.yaml"),
        KMS_DATA_PATH: join(dir, "data"),
        KMS_ACCOUNT_ID: KMS_ACCOUNT,
        KMS_REGION,
      },
      stdio: ["ignore", "pipe", "pipe"],
    },
  )
  let log = ""
  const started = new Promise<void>((resolve, reject) => {
    const onData = (d: Buffer): void => {
      log += d.toString("utf8")
      if (log.includes("Local KMS started")) resolve()
    }
    child.stdout.on("data", onData)
    child.stderr.on("data", onData)
    child.once("exit", (code) => {
      reject(new Error(`local-kms exited (${String(code)}) before it started: ${log}`))
    })
    setTimeout(() => {
      reject(new Error(`local-kms did not start within 20 s: ${log}`))
    }, 20_000).unref()
  })
  t.after(async () => {
    if (child.exitCode === null && child.signalCode === null) {
      const gone = new Promise((resolve) => child.once("exit", resolve))
      child.kill("SIGKILL")
      await gone
    }
    rmSync(dir, { recursive: true, force: true })
  })
  await started
  const pid = child.pid
  if (pid === undefined) throw new Error("unshare did not start")
  // sh exec'd local-kms, so the child's PID is the emulator's and its namespace ours to enter
  const enter = ["--target", String(pid), "--net", "--"]
  const endpoint = `http://127.0.0.1:${String(PORT)}`
  const env = {
    AWS_ENDPOINT_URL: endpoint,
    AWS_ACCESS_KEY_ID: "AKIDCOFFERTEST",
    AWS_SECRET_ACCESS_KEY: "coffer-test-secret",
    // never ask the EC2 metadata address (not on loopback) for credentials
    AWS_EC2_METADATA_DISABLED: "true",
  }
  const run = (
    command: string,
    args: readonly string[],
    opts: RunOptions = {},
  ): Promise<RunResult> => runCommand("nsenter", [...enter, command, ...args], opts)
  return {
    endpoint,
    arn: (id) => `arn:aws:kms:${KMS_REGION}:${KMS_ACCOUNT}:key/${id}`,
    env,
    coffer: (args, opts = {}) => run(process.execPath, [binPath(opts.bin), ...args], opts),
    run,
    call: (action, body) =>
      run(process.execPath, [
        "-e",
        `fetch(${JSON.stringify(endpoint)}, { method: "POST", headers: { "content-type": "application/x-amz-json-1.1", "x-amz-target": "TrentService.${action}" }, body: ${JSON.stringify(JSON.stringify(body))} }).then(async (r) => { process.stdout.write(await r.text()); process.exitCode = r.ok ? 0 : 1 })`,
      ]),
  }
}
