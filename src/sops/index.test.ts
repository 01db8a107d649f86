// File-level API: encrypt a plaintext file through its store, decrypt it back, Shamir key
// groups written to and read from real YAML/JSON text, and edit cycles keeping ciphertext.
import { test } from "node:test"
import assert from "node:assert/strict"
import { randomBytes } from "node:crypto"
import { generateX25519Identity } from "../age/x25519.js"
import { DataKeyError } from "./errors.js"
import { closeFile, decryptFile, encryptFile, openEncryptedFile, reencryptFile } from "./index.js"
import { storeForFormat } from "./stores/index.js"
import { encryptedValueType } from "./value-cipher.js"

const keys = [generateX25519Identity(), generateX25519Identity(), generateX25519Identity()]
const recipients = keys.map((k) => k.toRecipient().toString())

const yamlText = `# database
db:
    password: hunter2
    port: 5432
    hosts:
        - a.example
        # the backup
        - b.example
note_unencrypted: visible
`

test("encryptFile then decryptFile gives the plaintext back (YAML, one group)", async () => {
  const encrypted = await encryptFile(yamlText, "yaml", {
    keyGroups: [{ age: [recipients[0] ?? "", recipients[1] ?? ""], pgp: [] }],
  })
  assert.doesNotMatch(encrypted, /hunter2|5432|a\.example|backup|database/)
  assert.match(encrypted, /note_unencrypted: visible/)
  assert.match(encrypted, /unencrypted_suffix: _unencrypted/)
  const { metadata } = storeForFormat("yaml").parseEncrypted(encrypted)
  assert.equal(metadata.keyGroups.length, 1)
  assert.equal(metadata.keyGroups[0]?.age.length, 2)
  assert.equal(
    await decryptFile(encrypted, "yaml", { identities: [keys[1] ?? assert.fail()] }),
    yamlText,
  )
})

test("shamir 2-of-3 and 3-of-3 files: written as key_groups, read back with enough groups only", async () => {
  const json = '{\n\t"token": "abc",\n\t"n": 7\n}\n'
  for (const threshold of [2, 3]) {
    const encrypted = await encryptFile(json, "json", {
      keyGroups: recipients.map((r) => ({ age: [r], pgp: [] })),
      shamirThreshold: threshold,
    })
    const { metadata } = storeForFormat("json").parseEncrypted(encrypted)
    assert.equal(metadata.keyGroups.length, 3)
    assert.equal(metadata.shamirThreshold, threshold)
    const enough = keys.slice(3 - threshold)
    assert.equal(await decryptFile(encrypted, "json", { identities: enough }), json)
    await assert.rejects(
      decryptFile(encrypted, "json", { identities: keys.slice(0, threshold - 1) }),
      (e: unknown) =>
        e instanceof DataKeyError &&
        e.message.includes(`of the ${String(threshold)} key groups needed`),
    )
  }
})

test("open, edit, re-encrypt: only the edited value's ciphertext changes", async () => {
  const encrypted = await encryptFile(yamlText, "yaml", {
    keyGroups: [{ age: [recipients[0] ?? ""], pgp: [] }],
  })
  const file = await openEncryptedFile(encrypted, "yaml", {
    identities: [keys[0] ?? assert.fail()],
  })
  try {
    const store = storeForFormat("yaml")
    const edited = store.parse(file.store.emit(file.doc).replace("port: 5432", "port: 6543"))
    const rewritten = reencryptFile(file, edited)
    const before = encrypted.split("\n")
    const after = rewritten.split("\n")
    const changed = after.filter(
      (line) => !before.includes(line) && !/lastmodified|mac:/.test(line),
    )
    assert.equal(changed.length, 1)
    assert.match(changed[0] ?? "", /^ {4}port: ENC\[.*type:int\]$/)
    assert.match(
      await decryptFile(rewritten, "yaml", { identities: [keys[0] ?? assert.fail()] }),
      /port: 6543/,
    )
  } finally {
    closeFile(file)
  }
})

test("binary files: the whole content under data, no selector written", async () => {
  const text = "line one\nline two\n"
  const encrypted = await encryptFile(text, "binary", {
    keyGroups: [{ age: [recipients[2] ?? ""], pgp: [] }],
  })
  assert.doesNotMatch(encrypted, /unencrypted_suffix/)
  assert.match(encrypted, /^\t"data": "ENC\[AES256_GCM,[^"]*,type:str\]",$/m)
  assert.deepEqual(
    await decryptFile(encrypted, "binary", { identities: [keys[2] ?? assert.fail()] }),
    new TextEncoder().encode(text),
  )
})

/** Binary contents that are not UTF-8 text, and edge cases. */
function binarySamples(): [string, Uint8Array][] {
  return [
    ["NUL and 0xff", new Uint8Array([0x00, 0xff, 0x00, 0xfe])],
    ["invalid UTF-8", new Uint8Array([0x80, 0xc0, 0xaf, 0xe2, 0x82, 0xed, 0xa0, 0x80, 0xf8])],
    ["a lone CR", new Uint8Array([0x0d])],
    ["CRLF text with a BOM", new Uint8Array([0xef, 0xbb, 0xbf, 0x61, 0x0d, 0x0a])],
    ["empty", new Uint8Array(0)],
    ["random", new Uint8Array(randomBytes(4096))],
    ["1 MiB random", new Uint8Array(randomBytes(1024 * 1024))],
  ]
}

test("binary files: any bytes round-trip exactly (encryptFile/decryptFile, open/reencrypt)", async () => {
  const identities = [keys[0] ?? assert.fail()]
  for (const [name, bytes] of binarySamples()) {
    const encrypted = await encryptFile(bytes, "binary", {
      keyGroups: [{ age: [recipients[0] ?? ""], pgp: [] }],
    })
    // the plaintext is encrypted as sops does: type:str over the raw bytes
    const data = (JSON.parse(encrypted) as { data: string }).data
    if (bytes.length === 0) assert.equal(data, "", name)
    else assert.equal(encryptedValueType(data), "str", name)
    const decrypted = await decryptFile(encrypted, "binary", { identities })
    assert.ok(Buffer.from(decrypted).equals(bytes), name)
    // the encrypted file may also be given as bytes
    const fromBytes = await decryptFile(new TextEncoder().encode(encrypted), "binary", {
      identities,
    })
    assert.ok(Buffer.from(fromBytes).equals(bytes), name)

    const file = await openEncryptedFile(encrypted, "binary", { identities })
    try {
      const value = file.doc.branches[0]?.items[0]
      assert.equal(value?.kind === "entry" ? value.value.kind : undefined, "bytes", name)
      // unchanged bytes keep their ciphertext on re-encryption
      const again = reencryptFile(file, file.doc)
      assert.equal((JSON.parse(again) as { data: string }).data, data, name)
    } finally {
      closeFile(file)
    }
  }
})
