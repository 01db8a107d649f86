/**
 * Temporary directories for tests, built from an object literal and removed afterwards
 * (even when the test fails: `t.after` runs regardless).
 */
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { dirname, join } from "node:path"
import type { TestContext } from "node:test"

/**
 * Creates a private temp dir holding `files` (path → content) and schedules its removal.
 * @returns the directory's absolute path
 */
export function tmpTree(
  t: TestContext,
  files: Readonly<Record<string, string | Uint8Array>> = {},
): string {
  const dir = mkdtempSync(join(tmpdir(), "coffer-test-"))
  t.after(() => {
    rmSync(dir, { recursive: true, force: true })
  })
  for (const [name, content] of Object.entries(files)) {
    const path = join(dir, name)
    mkdirSync(dirname(path), { recursive: true })
    writeFileSync(path, content)
  }
  return dir
}
