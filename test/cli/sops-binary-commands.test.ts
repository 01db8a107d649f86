// Binary sops files whose bytes are not UTF-8 through the commands that hand plaintext to
// other programs (`exec-file` with a FIFO and with a file), and `set`/`edit` neighbours that
// open files through the shared session: the bytes arrive exactly as encrypted.
import { test } from "node:test"
import assert from "node:assert/strict"
import { writeFileSync } from "node:fs"
import { join } from "node:path"
import { runCli } from "../support/cli.js"
import { tmpTree } from "../support/tmp.js"
import { sopsEnv } from "../sops/sops-env.js"
import { generateX25519Identity } from "../../src/age/x25519.js"

test("exec-file and rotate keep a non-UTF-8 binary secret byte for byte (FIFO and --no-fifo)", async (t) => {
  const identity = generateX25519Identity()
  const blob = Buffer.from([0, 255, 0xc3, 0x28, 13, 10, 0xfe, 0x80, 0x41])
  const dir = tmpTree(t, { "key.txt": `${identity.encode()}\n`, "blob.bin": blob })
  const { env } = sopsEnv(t, [], { SOPS_AGE_KEY_FILE: join(dir, "key.txt") })
  const encrypted = await runCli(
    ["encrypt", "--age", identity.toRecipient().encode(), join(dir, "blob.bin")],
    { env, cwd: dir },
  )
  assert.equal(encrypted.status, 0, encrypted.stderr)
  writeFileSync(join(dir, "blob.enc"), encrypted.stdout)
  for (const flags of [[], ["--no-fifo"]]) {
    const r = await runCli(["exec-file", ...flags, join(dir, "blob.enc"), "od -An -tx1 {}"], {
      env,
      cwd: dir,
    })
    assert.equal(r.status, 0, r.stderr)
    assert.equal(r.stdout.toString().replace(/\s+/g, ""), blob.toString("hex"), flags.join(" "))
  }
  // rotate re-encrypts the bytes under a new data key without turning them into text
  const rotated = await runCli(["rotate", "-i", join(dir, "blob.enc")], { env, cwd: dir })
  assert.equal(rotated.status, 0, rotated.stderr)
  const decrypted = await runCli(["decrypt", join(dir, "blob.enc")], { env, cwd: dir })
  assert.equal(decrypted.status, 0, decrypted.stderr)
  assert.deepEqual(decrypted.stdout, blob)
})
