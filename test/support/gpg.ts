/**
 * A throwaway GnuPG home for tests: a private temp directory with the given key files
 * imported, removed after the test together with the gpg-agent gpg started for it
 * (`gpgconf --homedir DIR --kill all`), even when the test fails.
 */
import { spawnSync } from "node:child_process"
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import type { TestContext } from "node:test"

/**
 * Creates a GnuPG home (mode 0700) and imports `keyFiles` (armored or binary, no passphrases).
 * @returns the directory, to pass as `GNUPGHOME`
 * @throws Error when gpg fails to import a key
 */
export function gpgHome(t: TestContext, keyFiles: readonly string[] = []): string {
  // Short path: gpg-agent's socket path must fit in 108 bytes.
  const dir = mkdtempSync(join(tmpdir(), "cg-"))
  t.after(() => {
    spawnSync("gpgconf", ["--homedir", dir, "--kill", "all"], { stdio: "ignore" })
    rmSync(dir, { recursive: true, force: true })
  })
  for (const file of keyFiles) {
    const r = spawnSync("gpg", ["--homedir", dir, "--batch", "--import", file], {
      encoding: "utf8",
    })
    if (r.status !== 0) throw new Error(`gpg --import ${file} failed: ${r.stderr}`)
  }
  return dir
}
