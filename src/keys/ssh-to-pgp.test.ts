// RSA SSH key → OpenPGP key (docs/host/sops-nix-manifest.md "SSH host keys") against
// sops-nix's test vector and gpg.
import { test } from "node:test"
import assert from "node:assert/strict"
import { generateKeyPairSync, randomBytes } from "node:crypto"
import { readFileSync } from "node:fs"
import { join } from "node:path"
import { parseSshPrivateKey } from "../age/ssh-private-key.js"
import { repoRoot } from "../../test/support/cli.js"
import { gpgHome } from "../../test/support/gpg.js"
import { requireTool } from "../../test/support/tools.js"
import { spawnSync } from "node:child_process"
import { createGpgPort, importGpgKey, stopGpgDaemons } from "./pgp.js"
import { SshToPgpError, sshRsaKeyToPgp } from "./ssh-to-pgp.js"

const keys = join(repoRoot, "test/vectors/sops/sops-nix/keys")
const fingerprint = "2504791468B153B8A3963CC97BA53D1919C5DFD4"

async function vectorKey(): Promise<ReturnType<typeof sshRsaKeyToPgp>> {
  const path = join(keys, "ssh-key")
  const key = await parseSshPrivateKey(readFileSync(path, "utf8"), { name: path })
  assert.equal(key.type, "ssh-rsa")
  return sshRsaKeyToPgp(key.privateKey)
}

/** The binary of an ASCII-armored block (only to compare with; no CRC check needed here). */
function dearmor(text: string): Buffer {
  const lines = text.trim().split("\n")
  const body = lines.slice(lines.indexOf("") + 1, -1).filter((l) => !l.startsWith("="))
  return Buffer.from(body.join(""), "base64")
}

test("the sops-nix vector key has the fingerprint sops-nix gives it", async () => {
  assert.equal((await vectorKey()).fingerprint, fingerprint)
})

test("the key equals ssh-to-pgp's export byte for byte, but for Go's signature bit count", async () => {
  const ours = Buffer.from((await vectorKey()).secretKey)
  const theirs = dearmor(readFileSync(join(keys, "ssh-key.asc"), "utf8"))
  assert.equal(ours.length, theirs.length)
  // Go writes the signature MPI's bit count as 8 × its length (3072); the RFC count is 3071
  // for this signature, whose top bit is clear. It sits right after the 2-octet digest prefix.
  const at = theirs.length - 384 - 2
  assert.equal(theirs.readUInt16BE(at), 3072)
  assert.equal(ours.readUInt16BE(at), 3071)
  ours.writeUInt16BE(3072, at)
  assert.ok(ours.equals(theirs), "the same packets, subpackets and signature")
})

test("a fresh RSA key converts; its creation time is 0 and the fingerprint is stable", () => {
  const { privateKey } = generateKeyPairSync("rsa", { modulusLength: 2048 })
  const a = sshRsaKeyToPgp(privateKey)
  const b = sshRsaKeyToPgp(privateKey, { userId: "root (Imported from SSH) <root@localhost>" })
  assert.match(a.fingerprint, /^[0-9A-F]{40}$/)
  assert.equal(a.fingerprint, b.fingerprint, "the user ID is not part of the fingerprint")
  assert.deepEqual([...a.secretKey.subarray(4, 8)], [0, 0, 0, 0], "creation time 0")
})

test("a non-RSA key is refused", () => {
  const { privateKey, publicKey } = generateKeyPairSync("ed25519")
  assert.throws(() => sshRsaKeyToPgp(privateKey), SshToPgpError)
  assert.throws(() => sshRsaKeyToPgp(publicKey), SshToPgpError)
})

test("gpg imports it as a usable secret key that certifies, signs and encrypts", async (t) => {
  if (!requireTool(t, "gpg", "gnupg")) return
  const home = gpgHome(t)
  const key = await vectorKey()
  const options = { executable: "gpg", homeDir: home, env: { ...process.env, GNUPGHOME: home } }
  await importGpgKey(options, key.secretKey)
  const listed = spawnSync(
    "gpg",
    ["--homedir", home, "--batch", "--with-colons", "--list-secret-keys"],
    { encoding: "utf8" },
  )
  assert.equal(listed.status, 0, listed.stderr)
  const records = listed.stdout.split("\n").map((l) => l.split(":"))
  const sec = records.find((r) => r[0] === "sec")
  assert.ok(sec, listed.stdout)
  assert.ok(!["i", "d", "r", "e"].includes(sec[1] ?? ""), `valid key (validity ${sec[1] ?? ""})`)
  assert.match(sec[11] ?? "", /e/, "usable for encryption")
  assert.match(sec[11] ?? "", /s/)
  assert.match(sec[11] ?? "", /c/)
  assert.equal(records.find((r) => r[0] === "fpr")?.[9], fingerprint)
  assert.equal(records.find((r) => r[0] === "uid")?.[9], "root <root@localhost>")

  const port = createGpgPort(options)
  const dataKey = randomBytes(32)
  const armored = await port.encrypt(dataKey, fingerprint)
  assert.deepEqual(Buffer.from((await port.decrypt(armored)) ?? []), dataKey)
  assert.equal(await stopGpgDaemons(options), undefined)
})
