/**
 * A throwaway tailnet on loopback: a real control server (headscale, embedded DERP) and
 * real tailscaled daemons (userspace networking, no TUN device, no root needed), for
 * `coffer demo --tailnet`, the tests and the benchmark. The binaries are the caller's: in a
 * clone, `scripts/peers.sh` builds headscale 0.29.2 and tailscale 1.102.5 into `.peers/bin`
 * (`findLoopbackBinaries`).
 *
 * Ports are chosen free at run time (a listener on 127.0.0.1:0, closed, then given to
 * headscale; a clash with another test run is retried with another port). Each daemon has
 * its own temporary directory, is stopped by its PID when the caller's cleanup runs (even
 * when the test failed), and its directory is removed. tailscaled runs with
 * `TS_DEBUG_USE_DERP_HTTP=1` so it reaches headscale's DERP over plain http on loopback.
 * Recipe: docs/tailscale.md "Testing against headscale". Nothing here is used by a real
 * join: it only serves the demo and the proofs.
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process"
import { randomBytes } from "node:crypto"
import {
  closeSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readFileSync,
  rmSync,
  writeFileSync,
  accessSync,
  constants,
} from "node:fs"
import { createServer } from "node:net"
import { tmpdir } from "node:os"
import { delimiter, join } from "node:path"
import { setTimeout as sleep } from "node:timers/promises"

/** Registers cleanup (a `TestContext`'s `after`, or a list the caller runs). */
export type Cleanup = (fn: () => void | Promise<void>) => void

/** A headscale server on loopback. */
export interface Headscale {
  /** `http://127.0.0.1:PORT`: the server URL clients use. */
  readonly url: string
  readonly dir: string
  readonly configPath: string
  /** Runs `headscale -c CONFIG ARGS -o json` and parses its output. */
  cli(args: readonly string[]): unknown
  createUser(name: string): number
  /** A pre-auth key (`hskey-auth-…`). */
  createKey(opts: {
    readonly user?: number
    readonly tags?: readonly string[]
    readonly reusable?: boolean
    readonly ephemeral?: boolean
    readonly expiration?: string
  }): string
  /** Expires a key `createKey` made (`headscale preauthkeys expire --id N`). */
  expireKey(key: string): void
  nodes(): HeadscaleNode[]
  /** Stops the server (by PID); `start` brings it back on the same port and database. */
  stop(): Promise<void>
  start(): Promise<void>
}

/** A node as `headscale nodes list -o json` shows it. */
export interface HeadscaleNode {
  readonly id: number
  readonly name: string
  readonly givenName: string
  readonly tags: readonly string[]
  readonly user: string | null
  readonly online: boolean
}

/** A tailscaled on loopback with its own socket and state directory. */
export interface Tailscaled {
  readonly socket: string
  readonly dir: string
  readonly pid: number
  stop(): Promise<void>
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer()
    server.once("error", reject)
    server.listen(0, "127.0.0.1", () => {
      const address = server.address()
      const port = typeof address === "object" && address !== null ? address.port : 0
      server.close(() => {
        resolve(port)
      })
    })
  })
}

async function stopProcess(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null || child.pid === undefined) return
  const exited = new Promise<void>((resolve) =>
    child.once("exit", () => {
      resolve()
    }),
  )
  child.kill("SIGTERM")
  const done = await Promise.race([exited.then(() => true), sleep(5_000, false, { ref: false })])
  if (!done) {
    child.kill("SIGKILL")
    await exited
  }
}

function configText(dir: string, port: number): string {
  return `server_url: http://127.0.0.1:${String(port)}
listen_addr: 127.0.0.1:${String(port)}
metrics_listen_addr: ""
grpc_listen_addr: 127.0.0.1:0
noise: {private_key_path: ${dir}/noise_private.key}
prefixes: {v4: 100.64.0.0/10, v6: "fd7a:115c:a1e0::/48"}
derp:
  server:
    enabled: true
    region_id: 999
    region_code: local
    region_name: local
    stun_listen_addr: "127.0.0.1:0"
    private_key_path: ${dir}/derp_private.key
    automatically_add_embedded_derp_region: true
    ipv4: 127.0.0.1
  urls: []
  paths: []
  auto_update_enabled: false
database: {type: sqlite, sqlite: {path: ${dir}/db.sqlite}}
unix_socket: ${dir}/headscale.sock
unix_socket_permission: "0700"
dns: {magic_dns: false, override_local_dns: false}
disable_check_updates: true
log: {level: info}
`
}

async function waitUntil(
  what: string,
  ok: () => Promise<boolean> | boolean,
  ms: number,
  log: () => string,
): Promise<void> {
  const until = Date.now() + ms
  while (!(await ok())) {
    if (Date.now() > until) throw new Error(`${what} did not come up in ${String(ms)} ms: ${log()}`)
    await sleep(100)
  }
}

/**
 * Starts headscale on a free loopback port.
 * @param binary the headscale executable (`requirePeer(t, "headscale")`)
 * @param cleanup registers the stop and the removal of its directory
 * @param opts.env the environment of headscale and its CLI (default: ours)
 * @param opts.parent where its temporary directory is made (default: the system's)
 */
export async function startHeadscale(
  binary: string,
  cleanup: Cleanup,
  opts: { readonly env?: NodeJS.ProcessEnv; readonly parent?: string } = {},
): Promise<Headscale> {
  const env = opts.env ?? process.env
  const dir = mkdtempSync(join(opts.parent ?? tmpdir(), "coffer-hs-"))
  const configPath = join(dir, "config.yaml")
  let child: ChildProcess | null = null
  let port = 0
  cleanup(async () => {
    if (child !== null) await stopProcess(child)
    rmSync(dir, { recursive: true, force: true })
  })
  const logPath = join(dir, "headscale.log")
  const log = (): string => {
    try {
      return readFileSync(logPath, "utf8").split("\n").slice(-15).join("\n")
    } catch {
      return "(no log)"
    }
  }
  const launch = async (): Promise<boolean> => {
    writeFileSync(logPath, "")
    const out = openSync(logPath, "a")
    const started = spawn(binary, ["-c", configPath, "serve"], {
      stdio: ["ignore", out, out],
      env,
    })
    closeSync(out)
    child = started
    const healthy = async (): Promise<boolean> => {
      if (started.exitCode !== null) return true
      try {
        const r = await fetch(`http://127.0.0.1:${String(port)}/health`)
        return r.ok
      } catch {
        return false
      }
    }
    await waitUntil("headscale", healthy, 20_000, log)
    return started.exitCode === null
  }
  const start = async (): Promise<void> => {
    for (let tries = 0; ; tries++) {
      if (port === 0 || tries > 0) {
        port = await freePort()
        writeFileSync(configPath, configText(dir, port))
      }
      if (await launch()) return
      // another process took the port between our check and headscale's bind: try another
      if (tries >= 3 || !/address already in use/.test(log())) {
        throw new Error(`headscale did not start: ${log()}`)
      }
    }
  }
  await start()
  const cli = (args: readonly string[]): unknown => {
    const r = spawnSync(binary, ["-c", configPath, ...args, "-o", "json", "--force"], {
      encoding: "utf8",
      timeout: 30_000,
      env,
    })
    if (r.status !== 0) throw new Error(`headscale ${args.join(" ")}: ${r.stderr}${r.stdout}`)
    return JSON.parse(r.stdout === "" ? "null" : r.stdout) as unknown
  }
  const keyIds = new Map<string, string>()
  return {
    get url() {
      return `http://127.0.0.1:${String(port)}`
    },
    dir,
    configPath,
    cli,
    createUser: (name) => {
      const user = cli(["users", "create", name]) as { id: number }
      return user.id
    },
    createKey: (opts) => {
      const args = ["preauthkeys", "create", "--expiration", opts.expiration ?? "1h"]
      if (opts.user !== undefined) args.push("--user", String(opts.user))
      if (opts.tags !== undefined && opts.tags.length > 0) args.push("--tags", opts.tags.join(","))
      if (opts.reusable === true) args.push("--reusable")
      if (opts.ephemeral === true) args.push("--ephemeral")
      const key = cli(args) as { key: string; id: number | string }
      keyIds.set(key.key, String(key.id))
      return key.key
    },
    expireKey: (key) => {
      const id = keyIds.get(key)
      if (id === undefined) throw new Error("expireKey: not a key this headscale made")
      cli(["preauthkeys", "expire", "--id", id])
    },
    nodes: () => {
      const list = (cli(["nodes", "list"]) ?? []) as {
        id: number
        name: string
        given_name: string
        tags?: string[]
        user?: { name?: string }
        online?: boolean
      }[]
      return list.map((n) => ({
        id: n.id,
        name: n.name,
        givenName: n.given_name,
        tags: n.tags ?? [],
        user: n.user?.name ?? null,
        online: n.online === true,
      }))
    },
    stop: async () => {
      if (child !== null) await stopProcess(child)
    },
    start: async () => {
      if (child !== null && child.exitCode === null && child.signalCode === null) return
      if (!(await launch())) throw new Error(`headscale did not restart: ${log()}`)
    },
  }
}

/**
 * Starts tailscaled in userspace-networking mode with its own socket and state.
 * @param binaries the tailscaled and tailscale executables
 * @param opts.dir its directory (default: a new temporary one, removed at cleanup)
 * @param opts.env the environment of tailscaled and the client (default: ours)
 * @param opts.parent where its temporary directory is made (default: the system's)
 */
export async function startTailscaled(
  binaries: { readonly tailscaled: string; readonly tailscale: string },
  cleanup: Cleanup,
  opts: {
    readonly dir?: string
    readonly env?: NodeJS.ProcessEnv
    readonly parent?: string
  } = {},
): Promise<Tailscaled> {
  const env = opts.env ?? process.env
  const dir =
    opts.dir ??
    mkdtempSync(join(opts.parent ?? tmpdir(), `coffer-ts-${randomBytes(2).toString("hex")}-`))
  mkdirSync(join(dir, "state"), { recursive: true, mode: 0o700 })
  const socket = join(dir, "tailscaled.sock")
  const logPath = join(dir, "tailscaled.log")
  const out = openSync(logPath, "a")
  const child = spawn(
    binaries.tailscaled,
    [
      "--tun=userspace-networking",
      `--socket=${socket}`,
      `--statedir=${join(dir, "state")}`,
      "--port=0",
      "--no-logs-no-support",
    ],
    {
      stdio: ["ignore", out, out],
      env: { ...env, TS_DEBUG_USE_DERP_HTTP: "1" },
    },
  )
  closeSync(out)
  cleanup(async () => {
    await stopProcess(child)
    if (opts.dir === undefined) rmSync(dir, { recursive: true, force: true })
  })
  const log = (): string => readFileSync(logPath, "utf8").split("\n").slice(-15).join("\n")
  await waitUntil(
    "tailscaled",
    () =>
      child.exitCode === null &&
      spawnSync(binaries.tailscale, [`--socket=${socket}`, "status", "--json"], {
        timeout: 5_000,
        env,
      }).status === 0,
    20_000,
    log,
  )
  if (child.pid === undefined) throw new Error("tailscaled has no PID")
  return { socket, dir, pid: child.pid, stop: () => stopProcess(child) }
}

/** The three binaries a loopback tailnet needs. */
export interface LoopbackBinaries {
  readonly headscale: string
  readonly tailscaled: string
  readonly tailscale: string
}

/**
 * Looks for headscale, tailscaled and tailscale: in each folder of `dirs` first (the
 * `.peers/bin` of a clone, say), then on PATH.
 * @returns the paths, and the names not found
 */
export function findLoopbackBinaries(
  dirs: readonly string[],
  path: string | undefined,
): { readonly found: Partial<LoopbackBinaries>; readonly missing: readonly string[] } {
  const folders = [...dirs, ...(path ?? "").split(delimiter).filter((d) => d !== "")]
  const found: Record<string, string> = {}
  const missing: string[] = []
  for (const name of ["headscale", "tailscaled", "tailscale"] as const) {
    const hit = folders
      .map((dir) => join(dir, name))
      .find((candidate) => {
        try {
          accessSync(candidate, constants.X_OK)
          return true
        } catch {
          return false
        }
      })
    if (hit === undefined) missing.push(name)
    else found[name] = hit
  }
  return { found, missing }
}
