/**
 * A private mount namespace for tests that mount (ramfs, tmpfs): held open by `sleep`, and
 * killed after the test, which takes its mounts with it. Code runs inside it with nsenter.
 */
import { spawn } from "node:child_process"
import type { ChildProcess } from "node:child_process"
import { readFileSync, readlinkSync } from "node:fs"
import type { TestContext } from "node:test"
import { setTimeout as sleep } from "node:timers/promises"
import { runCommand } from "./cli.js"
import type { RunResult } from "./cli.js"

export interface Namespace {
  readonly pid: number
  /** The path as seen from inside the namespace. */
  inside(path: string): string
  /** Runs node with `args` inside the namespace. */
  node(args: readonly string[], env?: Readonly<Record<string, string>>): Promise<RunResult>
  /** Starts node inside the namespace without waiting. */
  spawnNode(args: readonly string[], env?: Readonly<Record<string, string>>): ChildProcess
}

/** A private mount namespace held open by `sleep`, killed (with its mounts) after the test. */
export async function privateNamespace(t: TestContext): Promise<Namespace> {
  const holder = spawn("unshare", ["--mount", "--propagation", "private", "--", "sleep", "3600"], {
    stdio: "ignore",
  })
  const pid = holder.pid
  if (pid === undefined) throw new Error("unshare did not start")
  t.after(async () => {
    if (holder.exitCode === null && holder.signalCode === null) {
      const gone = new Promise((resolve) => holder.once("exit", resolve))
      holder.kill("SIGKILL")
      await gone
    }
  })
  const ours = readlinkSync("/proc/self/ns/mnt")
  for (let i = 0; ; i++) {
    // wait until unshare has made the namespace and exec'd sleep in it
    let theirs = ours
    let comm = ""
    try {
      theirs = readlinkSync(`/proc/${String(pid)}/ns/mnt`)
      comm = readFileSync(`/proc/${String(pid)}/comm`, "utf8").trim()
    } catch {
      // not there yet
    }
    if (theirs !== ours && comm === "sleep") break
    if (i > 200) throw new Error("the private mount namespace did not come up")
    await sleep(10)
  }
  const enter = ["--target", String(pid), "--mount", "--", process.execPath]
  return {
    pid,
    inside: (path) => `/proc/${String(pid)}/root${path}`,
    node: (args, env = {}) =>
      runCommand("nsenter", [...enter, ...args], { env, timeoutMs: 60_000 }),
    spawnNode: (args, env = {}) =>
      spawn("nsenter", [...enter, ...args], { env: { ...process.env, ...env }, stdio: "ignore" }),
  }
}
