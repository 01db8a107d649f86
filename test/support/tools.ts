/**
 * System tools the interop tests need (Debian's age, ssh-keygen, gpg, systemd-analyze...).
 * Under CI (`CI=true`) a missing tool fails the test loudly; elsewhere the test is skipped,
 * naming the Debian package that provides the tool.
 */
import { spawnSync } from "node:child_process"
import type { TestContext } from "node:test"

/** Whether we run under CI, where every test must run. */
export const underCi: boolean = process.env["CI"] === "true"

/** @returns whether `tool` is on PATH */
export function hasTool(tool: string): boolean {
  const r = spawnSync("sh", ["-c", `command -v ${tool}`], { stdio: "ignore" })
  return r.status === 0
}

/**
 * Skips the test (outside CI) or throws (under CI) when `tool` is missing.
 * @returns true when the tool is there and the test should go on
 */
export function requireTool(t: TestContext, tool: string, debianPackage: string): boolean {
  if (hasTool(tool)) return true
  const message = `${tool} not found: install the Debian package ${debianPackage}`
  if (underCi) throw new Error(message)
  t.skip(message)
  return false
}

/** Skips the test (outside CI) or throws (under CI) when not running as root. */
export function requireRoot(t: TestContext, why: string): boolean {
  if (process.getuid?.() === 0) return true
  const message = `needs root: ${why}`
  if (underCi) throw new Error(message)
  t.skip(message)
  return false
}
