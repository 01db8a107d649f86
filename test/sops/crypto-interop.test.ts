// The sops crypto layer against real sops files (test/vectors/sops, see its README): every
// age-encrypted file decrypts through its store, with the data key unwrapped by its age key
// (and the sops-nix file also by the ssh-to-age conversion of its SSH key), to the
// .expected.json plaintext with the MAC verified. Plus: re-encrypting unchanged values keeps
// sops's ciphertext, and tampering with a real file is refused with the right error.
import { test } from "node:test"
import assert from "node:assert/strict"
import { readFileSync } from "node:fs"
import { join } from "node:path"
import { repoRoot } from "../support/cli.js"
import { parseIdentity, parseIdentityFile } from "../../src/age/keyfile.js"
import type { Identity } from "../../src/age/recipient.js"
import { sshPrivateKeyToAge } from "../../src/keys/ssh-to-age.js"
import { storeForFormat } from "../../src/sops/stores/index.js"
import type { Document, Node } from "../../src/sops/tree.js"
import { decryptDocument } from "../../src/sops/encrypt.js"
import { unwrapDataKey } from "../../src/sops/data-key.js"
import { closeFile, decryptFile, openEncryptedFile, reencryptFile } from "../../src/sops/index.js"
import {
  DataKeyError,
  MacMismatchError,
  MissingMacError,
  ValueAuthenticationError,
} from "../../src/sops/errors.js"

const vectors = join(repoRoot, "test/vectors/sops")

interface Expected {
  readonly format: string
  readonly mac: string
  readonly plaintext: unknown
}

/** The age-encrypted vectors and the key file of their folder. */
const ageVectors: readonly (readonly [file: string, keyFile: string])[] = [
  ["sops-nix/secrets.yaml", "sops-nix/keys/age-keys.txt"],
  ["sops-age/secret.enc.yaml", "sops-age/keys/age-key.txt"],
  ["sops-age/secret.enc.env", "sops-age/keys/age-key.txt"],
  ["fluxcd-kustomize-controller/algorithms/age.yaml", "fluxcd-kustomize-controller/keys/age.txt"],
  ["fluxcd-kustomize-controller/patches/merge1.yaml", "fluxcd-kustomize-controller/keys/age.txt"],
  ["fluxcd-kustomize-controller/envs/env.env", "fluxcd-kustomize-controller/keys/age.txt"],
  ["fluxcd-kustomize-controller/files/file.txt", "fluxcd-kustomize-controller/keys/age.txt"],
  [
    "fluxcd-kustomize-controller/global/secret.yaml",
    "fluxcd-kustomize-controller/keys/age-global.txt",
  ],
  ["helm-secrets/secrets.age.yaml", "helm-secrets/keys/age-key.txt"],
]

const read = (path: string): string => readFileSync(join(vectors, path), "utf8")
const expectedOf = (file: string): Expected => JSON.parse(read(`${file}.expected.json`)) as Expected

async function identitiesFrom(keyFile: string): Promise<readonly Identity[]> {
  return parseIdentityFile(read(keyFile), { name: keyFile })
}

/** The plaintext tree as the sidecars write it (comments dropped, numbers as JSON numbers). */
function toJson(node: Node): unknown {
  switch (node.kind) {
    case "mapping":
      return Object.fromEntries(
        node.items.flatMap((i) => (i.kind === "entry" ? [[i.key, toJson(i.value)]] : [])),
      )
    case "sequence":
      return node.items.flatMap((i) => (i.kind === "comment" ? [] : [toJson(i)]))
    case "int":
      return Number(node.value)
    case "null":
      return null
    case "bytes":
      return Buffer.from(node.value).toString("utf8")
    default:
      return node.value
  }
}

function documentJson(doc: Document): unknown {
  assert.equal(doc.branches.length, 1)
  const [branch] = doc.branches
  assert.ok(branch !== undefined)
  return toJson(branch)
}

for (const [file, keyFile] of ageVectors) {
  test(`${file}: decrypts to its expected plaintext with the MAC verified`, async () => {
    const expected = expectedOf(file)
    assert.equal(expected.mac, "verified")
    const store = storeForFormat(expected.format)
    const { doc, metadata } = store.parseEncrypted(read(file))
    const dataKey = await unwrapDataKey(metadata, { identities: await identitiesFrom(keyFile) })
    const plain = decryptDocument(doc, metadata, dataKey)
    assert.deepEqual(documentJson(plain), expected.plaintext)
  })
}

test("sops-nix secrets.yaml also opens with its SSH key converted by ssh-to-age (second recipient)", async () => {
  const converted = await sshPrivateKeyToAge(read("sops-nix/keys/ssh-ed25519-key"))
  const identity = await parseIdentity(converted)
  const text = read("sops-nix/secrets.yaml")
  const plaintext = await decryptFile(text, "yaml", { identities: [identity] })
  const reparsed = storeForFormat("yaml").parse(plaintext)
  assert.deepEqual(documentJson(reparsed), expectedOf("sops-nix/secrets.yaml").plaintext)
  // and with both identities (as discovery gives them), whichever order
  const ageKeys = await identitiesFrom("sops-nix/keys/age-keys.txt")
  for (const identities of [
    [identity, ...ageKeys],
    [...ageKeys, identity],
  ]) {
    const { metadata } = storeForFormat("yaml").parseEncrypted(text)
    assert.equal((await unwrapDataKey(metadata, { identities })).length, 32)
  }
})

test("the wrong key: DataKeyError naming every recipient of the file", async () => {
  const wrong = await identitiesFrom("helm-secrets/keys/age-key.txt")
  const err = await decryptFile(read("sops-age/secret.enc.yaml"), "yaml", {
    identities: wrong,
  }).then(
    () => assert.fail("expected an error"),
    (e: unknown) => e,
  )
  assert.ok(err instanceof DataKeyError)
  const hints = err.hints.join("\n")
  assert.match(
    hints,
    /age age1je6kjhzuhdjy3fqptpttxjh5k8q46vygzlgtpuq3030c947pc5tqz9dqvr \(none of the 1 age identities matched\)/,
  )
  assert.match(hints, /age age19j4d6v9j7rx5fs629fu387qz4zmlpsqjexa4s08tkfrrmfdl5cwqjlaupd/)
})

test("re-encrypting an unchanged real file keeps every value's ciphertext", async () => {
  const text = read("sops-age/secret.enc.yaml")
  const identities = await identitiesFrom("sops-age/keys/age-key.txt")
  const file = await openEncryptedFile(text, "yaml", { identities })
  try {
    const clock = (): Date => new Date("2030-01-01T00:00:00Z")
    const rewritten = reencryptFile(file, file.doc, { clock })
    const store = storeForFormat("yaml")
    const before = store.parseEncrypted(text)
    const after = store.parseEncrypted(rewritten)
    assert.deepEqual(after.doc, before.doc)
    assert.equal(after.metadata.lastModified, "2030-01-01T00:00:00Z")
    assert.notEqual(after.metadata.mac, before.metadata.mac)
    assert.deepEqual(after.metadata.keyGroups, before.metadata.keyGroups)
    const again = await decryptFile(rewritten, "yaml", { identities })
    assert.deepEqual(
      documentJson(store.parse(again)),
      expectedOf("sops-age/secret.enc.yaml").plaintext,
    )
  } finally {
    closeFile(file)
  }
})

test("tampering with a real file: a value names its path, lines, MAC and lastmodified break the MAC", async () => {
  const text = read("sops-age/secret.enc.yaml")
  const identities = await identitiesFrom("sops-age/keys/age-key.txt")
  const rejection = (t: string): Promise<unknown> =>
    decryptFile(t, "yaml", { identities }).then(
      () => assert.fail("expected an error"),
      (e: unknown) => e,
    )

  // one value's ciphertext moved under another key: AES-GCM fails for that path
  const lines = text.split("\n")
  const secretLine = lines.find((l) => l.startsWith("secret: "))
  const stringLine = lines.find((l) => l.startsWith("string: "))
  assert.ok(secretLine !== undefined && stringLine !== undefined)
  const moved = text.replace(stringLine, `string: ${secretLine.slice("secret: ".length)}`)
  const err = await rejection(moved)
  assert.ok(err instanceof ValueAuthenticationError)
  assert.equal(err.path, "string")

  // a list item ciphertext changed: the path shows the index
  const arrayItem = lines.find((l) => l.includes("- ENC[AES256_GCM,data:SBYe"))
  assert.ok(arrayItem !== undefined)
  const err2 = await rejection(text.replace("data:SBYe", "data:SBYf"))
  assert.ok(err2 instanceof ValueAuthenticationError)
  assert.equal(err2.path, "complex.array[1]")

  // a deleted value (sops-age, the JS peer, accepts this): MAC mismatch
  const deleted = text.replace(`${secretLine}\n`, "")
  const err3 = await rejection(deleted)
  assert.ok(err3 instanceof MacMismatchError)
  assert.match(err3.message, /every encrypted value is authentic/)

  // lastmodified edited: the MAC no longer decrypts
  const touched = text.replace(
    /lastmodified: "?2024-03-25T22:08:10Z"?/,
    'lastmodified: "2024-03-25T22:08:11Z"',
  )
  assert.notEqual(touched, text)
  assert.ok((await rejection(touched)) instanceof MacMismatchError)

  // the MAC removed: refused unless ignored
  const noMac = text.replace(/\n {2}mac: ENC\[[^\n]*/, "")
  assert.notEqual(noMac, text)
  assert.ok((await rejection(noMac)) instanceof MissingMacError)
  const ignored = await decryptFile(noMac, "yaml", { identities }, { ignoreMac: true })
  assert.match(ignored, /this is a secret/)
})
