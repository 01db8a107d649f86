import assert from "node:assert/strict"
import { test } from "node:test"
import { editDistance, nearestName } from "./nearest.js"

test("editDistance counts insertions, deletions, substitutions and neighbour swaps", () => {
  assert.equal(editDistance("", ""), 0)
  assert.equal(editDistance("abc", ""), 3)
  assert.equal(editDistance("path_regx", "path_regex"), 1)
  assert.equal(editDistance("ouptut", "output"), 1)
  assert.equal(editDistance("kitten", "sitting"), 3)
})

test("nearestName suggests likely typos and nothing for unrelated words", () => {
  const rule = ["path_regex", "age", "pgp", "key_groups", "encrypted_regex"]
  assert.equal(nearestName("path_regx", rule), "path_regex")
  assert.equal(nearestName("path-regex", rule), "path_regex")
  assert.equal(nearestName("Path_Regex", rule), "path_regex")
  assert.equal(nearestName("keygroups", rule), "key_groups")
  assert.equal(nearestName("ag", rule), "age")
  assert.equal(nearestName("recipients", rule), undefined)
  assert.equal(nearestName("x", ["age"]), undefined)
  // one letter is too little to guess from
  assert.equal(nearestName("x", ["i", "o"]), undefined)
  assert.equal(nearestName("ouptut", ["o", "output", "i"]), "output")
  assert.equal(nearestName("creation_rule", ["creation_rules", "stores"]), "creation_rules")
})
