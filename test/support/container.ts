/**
 * A real systemd booted with `systemd-nspawn --volatile=yes` from the host's /usr, in a
 * private mount namespace and a private network (docs/testing.md "A real systemd as PID 1"),
 * for the tests that need PID 1: the install unit (test/host/systemd.slow.test.ts) and the
 * Tailscale join unit (test/tailscale/systemd.slow.test.ts). Moved here from the former so
 * both share it.
 */
import type { TestContext } from "node:test"
import assert from "node:assert/strict"
import { spawn, spawnSync } from "node:child_process"
import { randomBytes } from "node:crypto"
import { setTimeout as sleep } from "node:timers/promises"

export interface Container {
  /** Runs a command in the container (all its namespaces). */
  exec(argv: readonly string[]): { status: number | null; stdout: string; stderr: string }
}

/**
 * Boots the container; powers it off (or kills it by PID) after the test.
 * @param binds `HOST:CONTAINER` paths bound read-only
 */
export async function bootContainer(t: TestContext, binds: readonly string[]): Promise<Container> {
  const machine = `coffer${randomBytes(3).toString("hex")}`
  const script = [
    "set -e",
    // private to this namespace: nspawn wants a tmpfs here (/run is on disk on this machine)
    "mount -t tmpfs tmpfs /run/systemd",
    "mkdir /run/systemd/nspawn",
    `exec systemd-nspawn --directory=/ --volatile=yes --register=no --keep-unit --private-network --console=pipe --machine=${machine} ${binds.map((b) => `--bind-ro=${b}`).join(" ")} --boot`,
  ].join("\n")
  const nspawn = spawn(
    "unshare",
    ["--mount", "--propagation", "private", "--", "sh", "-c", script],
    {
      stdio: ["ignore", "ignore", "pipe"],
    },
  )
  let stderr = ""
  nspawn.stderr.on("data", (d: Buffer) => (stderr += d.toString("utf8")))
  const exited = new Promise((resolve) => nspawn.once("exit", resolve))
  const pid = nspawn.pid
  if (pid === undefined) throw new Error("systemd-nspawn did not start")
  let init: number | undefined
  const exec = (
    argv: readonly string[],
  ): { status: number | null; stdout: string; stderr: string } => {
    if (init === undefined) throw new Error("the container has no init")
    const r = spawnSync("nsenter", ["-t", String(init), "-a", ...argv], {
      encoding: "utf8",
      timeout: 60_000,
    })
    return { status: r.status, stdout: r.stdout, stderr: r.stderr }
  }
  t.after(async () => {
    if (nspawn.exitCode !== null || nspawn.signalCode !== null) return
    if (init !== undefined) {
      exec(["systemctl", "poweroff"])
    }
    const done = await Promise.race([exited.then(() => true), sleep(20_000, false, { ref: false })])
    if (!done) {
      nspawn.kill("SIGKILL")
      await exited
    }
  })
  for (let i = 0; init === undefined; i++) {
    if (nspawn.exitCode !== null) throw new Error(`systemd-nspawn exited: ${stderr}`)
    if (i > 300) throw new Error(`the container's systemd did not start: ${stderr}`)
    await sleep(50)
    const r = spawnSync("pgrep", ["-P", String(pid), "-x", "systemd"], { encoding: "utf8" })
    const found = Number(r.stdout.trim().split("\n")[0])
    if (r.status === 0 && Number.isInteger(found) && found > 0) init = found
  }
  // wait for the boot to finish (degraded is fine: systemd-firstboot fails on an empty /etc)
  let running = exec(["systemctl", "is-system-running", "--wait"])
  for (let i = 0; /Failed to connect to bus/.test(running.stderr) && i < 100; i++) {
    // PID 1 is up before its bus is
    await sleep(100)
    running = exec(["systemctl", "is-system-running", "--wait"])
  }
  assert.match(running.stdout, /running|degraded/, `boot: ${running.stdout} ${running.stderr}`)
  return { exec }
}

/** Polls `check` every 100 ms until it holds, or throws after `ms`. */
export async function waitFor(what: string, check: () => boolean, ms = 15_000): Promise<void> {
  const until = Date.now() + ms
  while (!check()) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`)
    await sleep(100)
  }
}
