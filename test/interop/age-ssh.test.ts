// Interop of the SSH recipient types (docs/formats/age.md "SSH recipients") with Debian's age 1.1.1: files we
// encrypt to ssh-ed25519 / ssh-rsa keys decrypt with `age -d -i KEY`, and files `age -r
// "ssh-… KEY"` writes decrypt with our identities, binary and armored, at chunk-boundary
// sizes, with several recipients per file; keys come from the real ssh-keygen.
import { test } from "node:test"
import type { TestContext } from "node:test"
import assert from "node:assert/strict"
import { execFileSync } from "node:child_process"
import { randomBytes } from "node:crypto"
import { readFileSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { decrypt } from "../../src/age/decrypt.js"
import { encrypt } from "../../src/age/encrypt.js"
import { NoIdentityMatchError, PassphraseError } from "../../src/age/errors.js"
import type { Identity, Recipient } from "../../src/age/recipient.js"
import { parseSshIdentity } from "../../src/age/ssh-private-key.js"
import { parseSshRecipient } from "../../src/age/ssh-public-key.js"
import { requireTool } from "../support/tools.js"
import { tmpTree } from "../support/tmp.js"

const sizes = [0, 1, 65536, 65537, 300000]

interface SshKey {
  readonly name: string
  readonly path: string
  readonly publicLine: string
  readonly recipient: Recipient
  readonly identity: Identity
}

async function makeKey(dir: string, name: string, args: readonly string[]): Promise<SshKey> {
  const path = join(dir, name)
  execFileSync("ssh-keygen", ["-q", "-N", "", "-C", name, "-f", path, ...args], { stdio: "ignore" })
  const publicLine = readFileSync(`${path}.pub`, "utf8").trim()
  return {
    name,
    path,
    publicLine,
    recipient: parseSshRecipient(publicLine),
    identity: await parseSshIdentity(readFileSync(path, "utf8"), { name: path }),
  }
}

function tools(t: TestContext): boolean {
  return requireTool(t, "age", "age") && requireTool(t, "ssh-keygen", "openssh-client")
}

function ageEncrypt(
  dir: string,
  plaintext: Uint8Array,
  recipientLines: readonly string[],
  armor: boolean,
): Uint8Array {
  const out = join(dir, "from-age.age")
  const args = [
    ...(armor ? ["-a"] : []),
    ...recipientLines.flatMap((line) => ["-r", line]),
    "-o",
    out,
  ]
  execFileSync("age", args, { input: plaintext, stdio: ["pipe", "ignore", "pipe"] })
  return new Uint8Array(readFileSync(out))
}

function ageDecrypt(dir: string, file: Uint8Array, keyPath: string): Uint8Array {
  const path = join(dir, "from-us.age")
  writeFileSync(path, file)
  return new Uint8Array(
    execFileSync("age", ["-d", "-i", keyPath, path], {
      stdio: ["ignore", "pipe", "pipe"],
      maxBuffer: 1 << 24,
    }),
  )
}

test("ssh-ed25519, ssh-rsa 2048 and 4096: both directions with age 1.1.1, all sizes, armored or not", async (t) => {
  if (!tools(t)) return
  const dir = tmpTree(t)
  const keys = [
    await makeKey(dir, "ed25519", ["-t", "ed25519"]),
    await makeKey(dir, "rsa2048", ["-t", "rsa", "-b", "2048"]),
    await makeKey(dir, "rsa4096", ["-t", "rsa", "-b", "4096"]),
  ]
  for (const key of keys) {
    for (const size of sizes) {
      for (const armor of [false, true]) {
        await t.test(`${key.name} ${size} bytes${armor ? " armored" : ""}`, async () => {
          const plaintext = new Uint8Array(randomBytes(size))
          const ours = await encrypt(plaintext, [key.recipient], { armor })
          if (armor)
            assert.match(
              Buffer.from(ours.subarray(0, 40)).toString(),
              /^-----BEGIN AGE ENCRYPTED FILE-----/,
            )
          assert.deepEqual(ageDecrypt(dir, ours, key.path), plaintext)
          const theirs = ageEncrypt(dir, plaintext, [key.publicLine], armor)
          assert.deepEqual(await decrypt(theirs, [key.identity]), plaintext)
        })
      }
    }
  }
})

test("several SSH (and X25519) recipients in one file, both directions", async (t) => {
  if (!tools(t) || !requireTool(t, "age-keygen", "age")) return
  const dir = tmpTree(t)
  const keys = [
    await makeKey(dir, "ed-a", ["-t", "ed25519"]),
    await makeKey(dir, "ed-b", ["-t", "ed25519"]),
    await makeKey(dir, "rsa", ["-t", "rsa", "-b", "2048"]),
  ]
  const x25519Path = join(dir, "x25519.txt")
  execFileSync("age-keygen", ["-o", x25519Path], { stdio: "ignore" })
  const x25519Line = execFileSync("age-keygen", ["-y", x25519Path], { encoding: "utf8" }).trim()
  const { parseX25519Recipient } = await import("../../src/age/x25519.js")
  const plaintext = new Uint8Array(randomBytes(70000))

  const ours = await encrypt(plaintext, [
    ...keys.map((k) => k.recipient),
    parseX25519Recipient(x25519Line),
  ])
  for (const key of keys) assert.deepEqual(ageDecrypt(dir, ours, key.path), plaintext, key.name)
  assert.deepEqual(ageDecrypt(dir, ours, x25519Path), plaintext)

  const theirs = ageEncrypt(dir, plaintext, [...keys.map((k) => k.publicLine), x25519Line], true)
  for (const key of keys)
    assert.deepEqual(await decrypt(theirs, [key.identity]), plaintext, key.name)

  // A key of the same type that is not a recipient: its tag matches nothing.
  const stranger = await makeKey(dir, "stranger", ["-t", "ed25519"])
  const onlyB = ageEncrypt(dir, plaintext, [keys[1]?.publicLine ?? ""], false)
  await assert.rejects(
    decrypt(onlyB, [stranger.identity, keys[0]?.identity ?? stranger.identity]),
    NoIdentityMatchError,
  )
})

test("a passphrase-protected OpenSSH key decrypts age's files, prompting once; a wrong passphrase is PassphraseError", async (t) => {
  if (!tools(t)) return
  const dir = tmpTree(t)
  for (const [name, args] of [
    ["ed25519", ["-t", "ed25519"]],
    ["rsa", ["-t", "rsa", "-b", "2048"]],
  ] as const) {
    const path = join(dir, name)
    execFileSync(
      "ssh-keygen",
      ["-q", "-a", "4", "-N", "open sesame", "-C", name, "-f", path, ...args],
      { stdio: "ignore" },
    )
    const text = readFileSync(path, "utf8")
    const publicLine = readFileSync(`${path}.pub`, "utf8").trim()
    const plaintext = new Uint8Array(randomBytes(1000))
    const file = ageEncrypt(dir, plaintext, [publicLine], false)
    const prompts: string[] = []
    const identity = await parseSshIdentity(text, {
      name: path,
      passphrase: (prompt) => {
        prompts.push(prompt)
        return Promise.resolve("open sesame")
      },
    })
    assert.deepEqual(await decrypt(file, [identity]), plaintext)
    assert.deepEqual(await decrypt(file, [identity]), plaintext)
    assert.equal(prompts.length, 1)
    const wrong = await parseSshIdentity(text, {
      name: path,
      passphrase: () => Promise.resolve("open sesame!"),
    })
    await assert.rejects(decrypt(file, [wrong]), PassphraseError)
    // And our own files for that key decrypt with age once the passphrase is removed.
    execFileSync("ssh-keygen", ["-q", "-p", "-P", "open sesame", "-N", "", "-f", path], {
      stdio: "ignore",
    })
    assert.deepEqual(
      ageDecrypt(dir, await encrypt(plaintext, [identity.recipient()]), path),
      plaintext,
    )
  }
})
