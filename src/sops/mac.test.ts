// The sops MAC (docs/formats/sops.md "The MAC").
import { test } from "node:test"
import assert from "node:assert/strict"
import { createHash, randomBytes } from "node:crypto"
import type { Document } from "./tree.js"
import {
  MAC_ONLY_ENCRYPTED_PREFIX,
  computeMac,
  decryptMac,
  encryptMac,
  formatLastModified,
  macAdditionalData,
} from "./mac.js"
import { MacMismatchError } from "./errors.js"

const doc: Document = {
  branches: [
    {
      kind: "mapping",
      items: [
        { kind: "comment", text: " never hashed" },
        { kind: "entry", key: "s", value: { kind: "string", value: "abc" } },
        { kind: "entry", key: "empty", value: { kind: "string", value: "" } },
        { kind: "entry", key: "n", value: { kind: "null" } },
        { kind: "entry", key: "i", value: { kind: "int", value: 7n } },
        { kind: "entry", key: "f", value: { kind: "float", value: 1e21 } },
        { kind: "entry", key: "b", value: { kind: "bool", value: true } },
        {
          kind: "entry",
          key: "list",
          value: {
            kind: "sequence",
            items: [
              { kind: "comment", text: " in list" },
              { kind: "bool", value: false },
            ],
          },
        },
        { kind: "entry", key: "port_unencrypted", value: { kind: "int", value: 8080n } },
      ],
    },
  ],
}

const sha512Hex = (...parts: (string | Uint8Array)[]): string => {
  const h = createHash("sha512")
  for (const p of parts) h.update(p)
  return h.digest("hex").toUpperCase()
}

test("the MAC is SHA-512 over the value bytes in order, no comments, nulls or separators", () => {
  assert.equal(
    computeMac(doc, undefined, false),
    sha512Hex("abc", "7", "1000000000000000000000", "True", "False", "8080"),
  )
  assert.match(computeMac(doc, undefined, false), /^[0-9A-F]{128}$/)
})

test("mac_only_encrypted starts with SHA-256('sops') and skips clear values", () => {
  assert.equal(
    Buffer.from(MAC_ONLY_ENCRYPTED_PREFIX).toString("hex"),
    "8a3fd2ad54ce66527b1034f3d147be0b0b975b3bf44f72c6fdadec8176f27d69",
  )
  assert.equal(
    computeMac(doc, undefined, true),
    sha512Hex(MAC_ONLY_ENCRYPTED_PREFIX, "abc", "7", "1000000000000000000000", "True", "False"),
  )
})

test("lastmodified as MAC additional data: Go RFC 3339 re-formatting", () => {
  assert.equal(macAdditionalData("2024-05-01T12:00:00Z"), "2024-05-01T12:00:00Z")
  assert.equal(macAdditionalData("2024-05-01T12:00:00.123456Z"), "2024-05-01T12:00:00Z")
  assert.equal(macAdditionalData("2024-05-01T12:00:00+00:00"), "2024-05-01T12:00:00Z")
  assert.equal(macAdditionalData("2024-05-01T12:00:00.5-07:00"), "2024-05-01T12:00:00-07:00")
  assert.throws(() => macAdditionalData("yesterday"), MacMismatchError)
  assert.equal(formatLastModified(new Date("2024-05-01T12:00:00.987Z")), "2024-05-01T12:00:00Z")
})

test("the encrypted MAC is bound to lastmodified", () => {
  const key = new Uint8Array(randomBytes(32))
  const mac = computeMac(doc, undefined, false)
  const enc = encryptMac(mac, key, "2024-05-01T12:00:00Z")
  assert.match(enc, /type:str\]$/)
  assert.equal(decryptMac(enc, key, "2024-05-01T12:00:00Z"), mac)
  assert.equal(decryptMac(enc, key, "2024-05-01T12:00:00.000+00:00"), mac)
  assert.throws(() => decryptMac(enc, key, "2024-05-01T12:00:01Z"), MacMismatchError)
  assert.throws(
    () => decryptMac(enc, new Uint8Array(randomBytes(32)), "2024-05-01T12:00:00Z"),
    MacMismatchError,
  )
})
