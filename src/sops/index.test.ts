// File-level API: encrypt a plaintext file through its store, decrypt it back, Shamir key
// groups written to and read from real YAML/JSON text, and edit cycles keeping ciphertext.
import { test } from "node:test"
import assert from "node:assert/strict"
import { generateX25519Identity } from "../age/x25519.js"
import { DataKeyError } from "./errors.js"
import { closeFile, decryptFile, encryptFile, openEncryptedFile, reencryptFile } from "./index.js"
import { storeForFormat } from "./stores/index.js"

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
  assert.equal(
    await decryptFile(encrypted, "binary", { identities: [keys[2] ?? assert.fail()] }),
    text,
  )
})
