import { test } from "node:test"
import assert from "node:assert/strict"
import { declaredNixKeys, declaredSopsKeys } from "./names.js"

const A = "age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p"
const B = "age1lggyhqrw2nlhcxprm67z43rta597azn8gknawjehu9d9dl0jq3yqqvfafg"

test(".sops.yaml: anchors name keys, nested lists give groups, keys: items without anchors count", () => {
  const text = `keys:\n  hosts:\n    - &dao ${A}\n  - ${B}\ncreation_rules:\n  - age: &solo ${B}\n`
  const fixed = text.replace(`  - ${B}\n`, "")
  const declared = declaredSopsKeys(fixed, ".sops.yaml")
  assert.deepEqual(
    declared.map((d) => [d.name, d.group, d.key.key, d.line]),
    [
      ["dao", "hosts", A, 3],
      ["solo", undefined, B, 5],
    ],
  )
  const flat = declaredSopsKeys(
    `keys:\n  - ${A}\n  - 85D77543B3D624B63CEA9E6DBC17301B491B3F21\n`,
    ".sops.yaml",
  )
  assert.deepEqual(
    flat.map((d) => [d.name, d.key.kind]),
    [
      [undefined, "age"],
      [undefined, "pgp"],
    ],
  )
})

test("secrets.nix: let bindings name keys, lists of names are groups, comments are skipped", () => {
  const source = `# admin = "${B}";\nlet\n  alice = "${A}"; /* bob = "${B}"; */\n  notakey = "hello";\n  users = [ alice ];\nin {\n  "a.age".publicKeys = [ alice ];\n}\n`
  assert.deepEqual(
    declaredNixKeys(source, "secrets.nix").map((d) => [d.name, d.group, d.key.key, d.line]),
    [["alice", "users", A, 3]],
  )
})
