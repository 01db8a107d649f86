/**
 * An isolated environment for running `coffer decrypt`/`encrypt` in tests: a temp HOME
 * (so the user's ~/.ssh, ~/.config/sops and ~/.gnupg are never read), every SOPS_* key
 * variable unset, and GNUPGHOME pointing at a throwaway keyring that is removed (with its
 * gpg-agent) after the test.
 */
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import type { TestContext } from "node:test"
import { gpgHome } from "../support/gpg.js"

/** Environment variables that point coffer (and sops) at keys. */
export const keyVariables: readonly string[] = [
  "SOPS_AGE_KEY",
  "SOPS_AGE_KEY_FILE",
  "SOPS_AGE_KEY_CMD",
  "SOPS_AGE_SSH_PRIVATE_KEY_FILE",
  "SOPS_AGE_SSH_PRIVATE_KEY_CMD",
  "SOPS_AGE_RECIPIENTS",
  "SOPS_PGP_FP",
  "SOPS_GPG_EXEC",
  "XDG_CONFIG_HOME",
  "GNUPGHOME",
]

/**
 * @param t the test (cleanup is registered on it)
 * @param pgpKeyFiles PGP key files to import into the keyring (none: an empty keyring)
 * @param extra variables to set
 * @returns the environment overrides for `runCli` and the temp HOME
 */
export function sopsEnv(
  t: TestContext,
  pgpKeyFiles: readonly string[] = [],
  extra: Readonly<Record<string, string>> = {},
): { env: Record<string, string | undefined>; home: string } {
  const home = mkdtempSync(join(tmpdir(), "coffer-home-"))
  t.after(() => {
    rmSync(home, { recursive: true, force: true })
  })
  const env: Record<string, string | undefined> = { HOME: home }
  for (const name of keyVariables) env[name] = undefined
  env["GNUPGHOME"] = gpgHome(t, pgpKeyFiles)
  Object.assign(env, extra)
  return { env, home }
}
