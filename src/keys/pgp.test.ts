// The gpg-backed PGP port (docs/formats/sops.md "What master keys store", "PGP keys")
// against the real gpg binary.
import { test } from "node:test"
import assert from "node:assert/strict"
import { randomBytes } from "node:crypto"
import { join } from "node:path"
import { repoRoot } from "../../test/support/cli.js"
import { gpgHome } from "../../test/support/gpg.js"
import { requireTool } from "../../test/support/tools.js"
import {
  PgpError,
  createGpgPort,
  gpgDecryptArgs,
  gpgEncryptArgs,
  gpgOptionsFromEnv,
  shortKeyId,
} from "./pgp.js"

const fingerprint = "FBC7B9E2A4F9289AC0C1D4843D16CEE4A27381B4"
const keyFile = join(repoRoot, "test/vectors/sops/getsops-sops/keys/sops_functional_tests_key.asc")

test("gpg arguments are sops's", () => {
  assert.equal(shortKeyId(fingerprint), "3D16CEE4A27381B4")
  assert.deepEqual(gpgEncryptArgs(fingerprint, undefined), [
    "--no-default-recipient",
    "--yes",
    "--encrypt",
    "-a",
    "-r",
    fingerprint,
    "--trusted-key",
    "3D16CEE4A27381B4",
    "--no-encrypt-to",
  ])
  assert.deepEqual(gpgDecryptArgs("/g"), ["--homedir", "/g", "-d"])
})

test("gpgOptionsFromEnv reads SOPS_GPG_EXEC and GNUPGHOME", () => {
  const o = gpgOptionsFromEnv({ SOPS_GPG_EXEC: "/opt/gpg2", GNUPGHOME: "/k" })
  assert.equal(o.executable, "/opt/gpg2")
  assert.equal(o.homeDir, "/k")
  const d = gpgOptionsFromEnv({})
  assert.equal(d.executable, "gpg")
  assert.equal(d.homeDir, undefined)
})

test("a data key round-trips through gpg", async (t) => {
  if (!requireTool(t, "gpg", "gnupg")) return
  const home = gpgHome(t, [keyFile])
  const port = createGpgPort(gpgOptionsFromEnv({ ...process.env, GNUPGHOME: home }))
  const dataKey = new Uint8Array(randomBytes(32))
  const armored = await port.encrypt(dataKey, fingerprint)
  assert.match(armored, /^-----BEGIN PGP MESSAGE-----\n/)
  assert.match(armored, /-----END PGP MESSAGE-----$/) // trimmed, as sops stores it
  assert.deepEqual(await port.decrypt(armored), dataKey)
  assert.equal(port.unavailable, false)
})

test("without the secret key, decrypt gives null and says why", async (t) => {
  if (!requireTool(t, "gpg", "gnupg")) return
  const withKey = gpgHome(t, [keyFile])
  const armored = await createGpgPort(
    gpgOptionsFromEnv({ ...process.env, GNUPGHOME: withKey }),
  ).encrypt(new Uint8Array(32).fill(7), fingerprint)
  const empty = gpgHome(t)
  const port = createGpgPort(gpgOptionsFromEnv({ ...process.env, GNUPGHOME: empty }))
  assert.equal(await port.decrypt(armored), null)
  assert.equal(port.failures.length, 1)
  assert.match(port.failures[0] ?? "", /secret key/i)
})

test("encrypting to an unknown fingerprint is a PgpError naming it", async (t) => {
  if (!requireTool(t, "gpg", "gnupg")) return
  const empty = gpgHome(t)
  const port = createGpgPort(gpgOptionsFromEnv({ ...process.env, GNUPGHOME: empty }))
  await assert.rejects(port.encrypt(new Uint8Array(32), fingerprint), (e: unknown) => {
    assert.ok(e instanceof PgpError)
    assert.match(e.message, new RegExp(fingerprint))
    return true
  })
})

test("a missing gpg program is a PgpError with a hint", async () => {
  const port = createGpgPort(
    gpgOptionsFromEnv({ PATH: "/nonexistent", SOPS_GPG_EXEC: "no-such-gpg-here" }),
  )
  await assert.rejects(port.decrypt("x"), (e: unknown) => {
    assert.ok(e instanceof PgpError)
    assert.match(e.message, /not found/)
    assert.ok(e.hints.some((h) => h.includes("gnupg")))
    return true
  })
  assert.equal(port.unavailable, true)
})
