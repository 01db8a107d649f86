// Unit tests for set/unset on documents (docs/formats/sops.md "Commands").
import { test } from "node:test"
import assert from "node:assert/strict"
import { YamlStore } from "../sops/stores/yaml.js"
import {
  parseJsonValue,
  sameNode,
  setInDocument,
  TreePathError,
  unsetInDocument,
} from "./tree-edit.js"

const store = new YamlStore({})
const doc = store.parse("a: 1\n# note\nlist:\n    # c\n    - x\n    - w\nmap:\n    k: v\n")

test("set: replace, append a missing key at the end, create missing levels, append past the end", () => {
  assert.equal(
    store.emit(setInDocument(doc, ["a"], parseJsonValue("2"))),
    "a: 2\n# note\nlist:\n    # c\n    - x\n    - w\nmap:\n    k: v\n",
  )
  assert.match(
    store.emit(setInDocument(doc, ["map", "new"], parseJsonValue('"s"'))),
    /map:\n {4}k: v\n {4}new: s\n$/,
  )
  assert.match(
    store.emit(setInDocument(doc, ["deep", "x", 0], parseJsonValue('{"b":1,"a":2}'))),
    /deep:\n {4}x:\n {8}- b: 1\n {10}a: 2\n$/,
  )
  assert.match(
    store.emit(setInDocument(doc, ["list", 9], parseJsonValue("true"))),
    /- w\n {4}- true\n/,
  )
  // indices count comments, as in sops: [1] is "x"
  assert.match(
    store.emit(setInDocument(doc, ["list", 1], parseJsonValue('"z"'))),
    /# c\n {4}- z\n {4}- w/,
  )
  assert.throws(() => setInDocument(doc, ["list", 0], parseJsonValue("1")), TreePathError)
})

test("unset: keys and list elements; a missing path is undefined", () => {
  assert.equal(
    store.emit(unsetInDocument(doc, ["map", "k"]) ?? doc),
    "a: 1\n# note\nlist:\n    # c\n    - x\n    - w\nmap: {}\n",
  )
  assert.match(store.emit(unsetInDocument(doc, ["list", 2]) ?? doc), /- x\nmap:/)
  assert.equal(unsetInDocument(doc, ["nope"]), undefined)
  assert.equal(unsetInDocument(doc, ["map", "k", "deeper"]), undefined)
  assert.equal(unsetInDocument(doc, ["list", 7]), undefined)
})

test("values: JSON typed as sops types a --set value; invalid JSON is a usage error", () => {
  // a lone number is a float64, as Go's json.Unmarshal makes it; inside a list an int stays one
  assert.deepEqual(parseJsonValue("3"), { kind: "float", value: 3 })
  assert.deepEqual(parseJsonValue("[3]"), { kind: "sequence", items: [{ kind: "int", value: 3n }] })
  assert.equal(parseJsonValue("1.5").kind, "float")
  assert.deepEqual(parseJsonValue('"x"'), { kind: "string", value: "x" })
  assert.throws(() => parseJsonValue("unquoted"), /not valid JSON/)
  assert.ok(sameNode(parseJsonValue('{"a":[1]}'), parseJsonValue('{ "a": [ 1 ] }')))
  assert.ok(!sameNode(parseJsonValue("1"), parseJsonValue('"1"')))
})
