// The by-path functions of coffer/sops (sops-files.ts): plain values, explicit keys versus
// discovery, and the error classes a program tells failures apart by.
import { test } from "node:test"
import assert from "node:assert/strict"
import { readFileSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { tmpTree } from "../../test/support/tmp.js"
import { generateX25519Identity } from "../age/x25519.js"
import { UsageError } from "../internal/errors.js"
import { NoMatchingRuleError } from "../policy/errors.js"
import { DataKeyError, MacMismatchError } from "../sops/errors.js"
import type { CloudKeyPort } from "../sops/cloud-keys.js"
import { generateDataKey, wrapDataKey } from "../sops/data-key.js"
import { encryptDocument } from "../sops/encrypt.js"
import { SOPS_VERSION, encryptFile } from "../sops/index.js"
import { YamlStore } from "../sops/stores/yaml.js"
import { AlreadyEncryptedError } from "../workflows/encrypt.js"
import { decryptSopsFile, encryptSopsFile, loadSopsFile, toPlainValue } from "./sops-files.js"

const identity = generateX25519Identity()
const recipient = identity.toRecipient().toString()
const other = generateX25519Identity()

async function sopsYaml(text: string): Promise<string> {
  return encryptFile(text, "yaml", { keyGroups: [{ age: [recipient], pgp: [] }] })
}

/** An environment with nothing to discover but what the test puts there. */
function emptyEnv(home: string): Record<string, string> {
  return { HOME: home }
}

test("loadSopsFile gives plain values: numbers, bigints past 2^53, lists, null, nested objects", async (t) => {
  const dir = tmpTree(t, {
    "a.yaml": await sopsYaml(
      "n: 5432\nbig: 9007199254740993\nf: 1.5\nok: true\nnone: null\nlist: [a, 2]\n# note\nnested:\n    __proto__: x\n",
    ),
  })
  const value = await loadSopsFile(join(dir, "a.yaml"), { identities: [identity] })
  assert.deepEqual(value, {
    n: 5432,
    big: 9007199254740993n,
    f: 1.5,
    ok: true,
    none: null,
    list: ["a", 2],
    nested: Object.fromEntries([["__proto__", "x"]]),
  })
  // an own property, not the prototype
  const nested = (value as { nested: object }).nested
  assert.equal(Object.getPrototypeOf(nested), Object.prototype)
  assert.deepEqual(Object.keys(nested), ["__proto__"])
})

test("keys are discovered from the environment given, as sops does, and explicit identities skip it", async (t) => {
  const dir = tmpTree(t, {
    "a.yaml": await sopsYaml("token: abc\n"),
    "keys.txt": `${identity.encode()}\n`,
    "wrong.txt": `${other.encode()}\n`,
  })
  const file = join(dir, "a.yaml")
  const env = { ...emptyEnv(dir), SOPS_AGE_KEY_FILE: join(dir, "keys.txt") }
  assert.equal(new TextDecoder().decode(await decryptSopsFile(file, { env })), "token: abc\n")
  // explicit identities: the environment's key is not used
  await assert.rejects(
    decryptSopsFile(file, { env, identities: [other] }),
    (e: unknown) => e instanceof DataKeyError && e.message.startsWith(JSON.stringify(file)),
  )
  // discovery with no key: the error says where coffer looked
  await assert.rejects(
    loadSopsFile(file, { env: { ...emptyEnv(dir), SOPS_AGE_KEY_FILE: join(dir, "wrong.txt") } }),
    (e: unknown) =>
      e instanceof DataKeyError && e.hints.some((h) => h.includes("SOPS_AGE_KEY_FILE")),
  )
})

test("a changed file is MacMismatchError unless ignoreMac; several YAML documents are refused by loadSopsFile", async (t) => {
  const encrypted = await sopsYaml("a: 1\n")
  const dir = tmpTree(t, {
    "changed.yaml": encrypted.replace(/mac: ENC\[AES256_GCM,data:./, (m) =>
      m.endsWith("A") ? `${m.slice(0, -1)}B` : `${m.slice(0, -1)}A`,
    ),
    "two.yaml": await sopsYaml("a: 1\n---\nb: 2\n"),
  })
  await assert.rejects(
    loadSopsFile(join(dir, "changed.yaml"), { identities: [identity] }),
    MacMismatchError,
  )
  assert.deepEqual(
    await loadSopsFile(join(dir, "changed.yaml"), { identities: [identity], ignoreMac: true }),
    { a: 1 },
  )
  await assert.rejects(
    loadSopsFile(join(dir, "two.yaml"), { identities: [identity] }),
    (e: unknown) => e instanceof UsageError && /2 YAML documents/.test(e.message),
  )
  assert.equal(
    new TextDecoder().decode(
      await decryptSopsFile(join(dir, "two.yaml"), { identities: [identity] }),
    ),
    "a: 1\n---\nb: 2\n",
  )
})

test("encryptSopsFile takes the keys from the matching .sops.yaml rule, and refuses what it can't encrypt", async (t) => {
  const dir = tmpTree(t, {
    ".sops.yaml": `creation_rules:\n  - path_regex: ^secrets/\n    age: ${recipient}\n`,
    "secrets/app.yaml": "password: s3cret\nregion_unencrypted: eu\n",
    "notes/todo.yaml": "a: 1\n",
  })
  const options = { cwd: dir, env: emptyEnv(dir) }
  const text = await encryptSopsFile("secrets/app.yaml", options)
  assert.match(text, /password: ENC\[AES256_GCM,/)
  assert.match(text, /region_unencrypted: eu/)
  assert.match(text, new RegExp(recipient))
  // nothing was written
  assert.equal(
    readFileSync(join(dir, "secrets/app.yaml"), "utf8"),
    "password: s3cret\nregion_unencrypted: eu\n",
  )
  writeFileSync(join(dir, "secrets/app.yaml"), text)
  assert.deepEqual(await loadSopsFile(join(dir, "secrets/app.yaml"), { identities: [identity] }), {
    password: "s3cret",
    region_unencrypted: "eu",
  })
  await assert.rejects(encryptSopsFile("secrets/app.yaml", options), AlreadyEncryptedError)
  await assert.rejects(encryptSopsFile("notes/todo.yaml", options), NoMatchingRuleError)
  // explicit recipients need no rule
  assert.match(
    await encryptSopsFile("notes/todo.yaml", { ...options, age: [other.toRecipient().toString()] }),
    /a: ENC\[AES256_GCM,/,
  )
})

test("toPlainValue drops comments in lists and keeps timestamps as their text", () => {
  assert.deepEqual(
    toPlainValue({
      kind: "sequence",
      items: [
        { kind: "comment", text: "x" },
        { kind: "time", value: "2024-01-02T03:04:05Z" },
      ],
    }),
    ["2024-01-02T03:04:05Z"],
  )
})

test("explicit keys open a file's cloud keys only through the cloud port given", async (t) => {
  // a stand-in for a KMS: the "ciphertext" is the data key reversed, in base64
  const cloud: CloudKeyPort = {
    supports: (type) => type === "kms",
    encrypt: (_type, _key, dataKey) =>
      Promise.resolve(Buffer.from([...dataKey].reverse()).toString("base64")),
    decrypt: (_type, key) =>
      Promise.resolve(
        Uint8Array.from([...Buffer.from(String(key.fields["enc"]), "base64")].reverse()),
      ),
  }
  const dataKey = generateDataKey()
  const wrapped = await wrapDataKey(
    dataKey,
    [{ age: [], pgp: [], opaque: { kms: [{ fields: { arn: "arn:aws:kms:eu-west-1:1:key/k" } }] } }],
    { cloud },
  )
  const store = new YamlStore()
  const encrypted = encryptDocument(store.parse("token: abc\n"), {
    dataKey,
    metadata: {
      keyGroups: wrapped.keyGroups,
      shamirThreshold: wrapped.shamirThreshold,
      lastModified: "",
      mac: undefined,
      selector: { kind: "unencrypted_suffix", value: "_unencrypted" },
      macOnlyEncrypted: false,
      version: SOPS_VERSION,
    },
  })
  const dir = tmpTree(t, { "kms.yaml": store.emitEncrypted(encrypted.doc, encrypted.metadata) })
  const file = join(dir, "kms.yaml")
  assert.deepEqual(await loadSopsFile(file, { identities: [], cloud }), { token: "abc" })
  await assert.rejects(loadSopsFile(file, { identities: [] }), DataKeyError)
})
