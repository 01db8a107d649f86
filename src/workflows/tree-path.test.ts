// `--extract` tree paths (docs/formats/sops.md "Commands").
import { test } from "node:test"
import assert from "node:assert/strict"
import { UsageError } from "../internal/errors.js"
import type { Mapping } from "../sops/tree.js"
import { findNode, parseTreePath } from "./tree-path.js"

test("keys in either quote, indices bare, brackets inside keys", () => {
  assert.deepEqual(parseTreePath(`["a"]['b'][0]`), ["a", "b", 0])
  assert.deepEqual(parseTreePath(`["a[1]"]["x y"]`), ["a[1]", "x y"])
  for (const bad of ["", "a", `["a"`, `[x]`, `["a"]b`, "[-1]"]) {
    assert.throws(() => parseTreePath(bad), UsageError, bad)
  }
})

test("findNode walks mappings and lists (indices count comments, as sops's Truncate)", () => {
  const root: Mapping = {
    kind: "mapping",
    items: [
      {
        kind: "entry",
        key: "list",
        value: {
          kind: "sequence",
          items: [
            { kind: "comment", text: " c" },
            { kind: "string", value: "first" },
            { kind: "string", value: "second" },
          ],
        },
      },
    ],
  }
  assert.deepEqual(findNode(root, ["list", 1]), { kind: "string", value: "first" })
  assert.deepEqual(findNode(root, ["list", 2]), { kind: "string", value: "second" })
  assert.throws(() => findNode(root, ["list", 0]), /can't extract \["list"\]\[0\]: it is a comment/)
  assert.throws(() => findNode(root, ["list", 3]), /has no \[3\]/)
  assert.throws(() => findNode(root, ["nope"]), /the top level has no \["nope"\]/)
  assert.throws(() => findNode(root, ["list", "x"]), /\["list"\] is not a mapping/)
})
