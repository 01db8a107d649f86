// Splitting SOPS_AGE_KEY_CMD-style command lines (docs/formats/sops.md "age keys and where
// they are found": split into words as a shell would, without running a shell).
import { test } from "node:test"
import assert from "node:assert/strict"
import { UsageError } from "../internal/errors.js"
import { splitShellWords } from "./shell-words.js"

test("words, quotes and escapes", () => {
  assert.deepEqual(splitShellWords("pass show age/key", "X"), ["pass", "show", "age/key"])
  assert.deepEqual(splitShellWords("  cat   'my keys.txt'  ", "X"), ["cat", "my keys.txt"])
  assert.deepEqual(splitShellWords(`sh -c "echo \\"\\$HOME\\" a\\b"`, "X"), [
    "sh",
    "-c",
    `echo "$HOME" a\\b`,
  ])
  assert.deepEqual(splitShellWords("a\\ b c", "X"), ["a b", "c"])
  assert.deepEqual(splitShellWords("x''y \"\"", "X"), ["xy", ""])
  assert.deepEqual(splitShellWords("cmd # a comment", "X"), ["cmd"])
  assert.deepEqual(splitShellWords("a#b", "X"), ["a#b"])
  assert.deepEqual(splitShellWords("", "X"), [])
})

test("unterminated quotes are a UsageError naming the setting", () => {
  for (const bad of ["echo 'x", 'echo "x', "echo x\\"]) {
    assert.throws(
      () => splitShellWords(bad, "SOPS_AGE_KEY_CMD"),
      (e: unknown) =>
        e instanceof UsageError && e.message.startsWith("SOPS_AGE_KEY_CMD: unterminated"),
    )
  }
})
