// Tests for SSH public key lines as age recipients (docs/formats/age.md "SSH recipients",
// "Identity and recipient files").
import { test } from "node:test"
import assert from "node:assert/strict"
import { readFileSync } from "node:fs"
import { join } from "node:path"
import { RecipientParseError } from "./errors.js"
import {
  UnsupportedSshKeyTypeError,
  formatSshPublicKey,
  parseSshPublicKey,
  parseSshRecipient,
} from "./ssh-public-key.js"
import { SshEd25519Recipient } from "./ssh-ed25519.js"
import { SshRsaRecipient } from "./ssh-rsa.js"
import { encodeSshMpint, encodeSshString } from "./ssh-wire.js"
import { concatBytes, encodeUtf8 } from "../internal/bytes.js"
import { repoRoot } from "../../test/support/cli.js"

const vectors = join(repoRoot, "test/vectors/ssh")
const ed25519Line = readFileSync(join(vectors, "ssh-ed25519-key.pub"), "utf8").trim()
const rsaLine = readFileSync(join(vectors, "ssh-key.pub"), "utf8").trim()

function lineOf(type: string, ...fields: Uint8Array[]): string {
  const wire = concatBytes(encodeSshString(encodeUtf8(type)), ...fields)
  return `${type} ${Buffer.from(wire).toString("base64")} someone@host`
}

test("an ssh-ed25519 line parses to its wire key, key bytes and comment", () => {
  const key = parseSshPublicKey(
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBI1+Q+ntzANebtnicCiAY29uqLGWOaOGLEa8bUqOVmS a b",
  )
  assert.equal(key.type, "ssh-ed25519")
  assert.equal(key.comment, "a b")
  assert.equal(key.wirePublicKey.length, 51)
  assert.equal(
    Buffer.from(key.wirePublicKey).toString("base64"),
    "AAAAC3NzaC1lZDI1NTE5AAAAIBI1+Q+ntzANebtnicCiAY29uqLGWOaOGLEa8bUqOVmS",
  )
  assert.equal(Buffer.from(key.publicKey).toString("hex").slice(0, 8), "1235f90f")
  assert.ok(parseSshRecipient(ed25519Line) instanceof SshEd25519Recipient)
})

test("an ssh-rsa line parses to exponent and modulus, and re-encodes to the same line", () => {
  const key = parseSshPublicKey(rsaLine)
  assert.equal(key.type, "ssh-rsa")
  assert.equal(key.rsa.exponent, 65537n)
  assert.equal(key.rsa.modulus.toString(2).length, 3072)
  assert.equal(formatSshPublicKey(key), rsaLine)
  const recipient = parseSshRecipient(rsaLine)
  assert.ok(recipient instanceof SshRsaRecipient)
  assert.equal(recipient.bits, 3072)
})

test("authorized_keys options and ssh-keyscan host names before the key are skipped", () => {
  const data = ed25519Line.split(" ")[1] ?? ""
  for (const line of [
    `no-pty,command="x" ssh-ed25519 ${data} c`,
    `ssh-host.example ssh-ed25519 ${data}`,
    `  ssh-ed25519\t${data}  `,
  ]) {
    assert.equal(
      Buffer.compare(
        parseSshPublicKey(line).wirePublicKey,
        parseSshPublicKey(ed25519Line).wirePublicKey,
      ),
      0,
      line,
    )
  }
})

test("key types age cannot use give UnsupportedSshKeyTypeError naming the type, with hints", () => {
  const cases: [string, RegExp][] = [
    [
      lineOf(
        "ecdsa-sha2-nistp256",
        encodeSshString(encodeUtf8("nistp256")),
        encodeSshString(new Uint8Array(65)),
      ),
      /ECDSA/,
    ],
    [lineOf("sk-ssh-ed25519@openssh.com", encodeSshString(new Uint8Array(32))), /can only sign/],
    [lineOf("ssh-dss", encodeSshMpint(5n)), /DSA/],
    [
      lineOf("ssh-ed25519-cert-v01@openssh.com", encodeSshString(new Uint8Array(32))),
      /certificate/,
    ],
  ]
  for (const [line, hint] of cases) {
    const type = line.split(" ")[0] ?? ""
    assert.throws(
      () => parseSshRecipient(line),
      (error: unknown) => {
        assert.ok(error instanceof UnsupportedSshKeyTypeError)
        assert.ok(error instanceof RecipientParseError)
        assert.equal(error.keyType, type)
        assert.ok(error.message.includes(JSON.stringify(type)), error.message)
        assert.match(error.hints.join(" "), hint)
        return true
      },
    )
  }
})

test("malformed lines are RecipientParseError, not UnsupportedSshKeyTypeError", () => {
  const data = ed25519Line.split(" ")[1] ?? ""
  const bad = [
    "ssh-ed25519",
    "ssh-ed25519 !!!!",
    `ssh-ed25519 ${data.slice(0, -4)}`, // truncated key
    `ssh-rsa ${data}`, // the line says rsa, the data says ed25519
    `ssh-rsa ${(rsaLine.split(" ")[1] ?? "").replace(/=+$/, "")}`, // SSH base64 is padded
    lineOf("ssh-ed25519", encodeSshString(new Uint8Array(31))),
    lineOf("ssh-ed25519", encodeSshString(new Uint8Array(32)), new Uint8Array(1)), // trailing data
    lineOf("ssh-rsa", encodeSshString(Uint8Array.of(0, 1, 0, 1)), encodeSshMpint(2n ** 2047n + 1n)), // non-minimal mpint
    "age1a8pk4akrdamj7nvqy3zywgtny8dxz7t5xzu7u8v9mhrayp9freqsqatyrs",
  ]
  for (const line of bad) {
    assert.throws(
      () => parseSshRecipient(line),
      (error: unknown) =>
        error instanceof RecipientParseError && !(error instanceof UnsupportedSshKeyTypeError),
      line,
    )
  }
})

test("RSA keys under 2048 bits and invalid Ed25519 points are refused", () => {
  const small = lineOf("ssh-rsa", encodeSshMpint(65537n), encodeSshMpint(2n ** 1023n + 1n))
  assert.throws(() => parseSshRecipient(small), /1024 bits/)
  // y = 2 has no x on the curve (x² is not a square), so it is not a valid point.
  const notOnCurve = new Uint8Array(32)
  notOnCurve[0] = 2
  assert.throws(
    () => parseSshRecipient(lineOf("ssh-ed25519", encodeSshString(notOnCurve))),
    (error: unknown) => error instanceof RecipientParseError && /not a point/.test(error.message),
  )
})
