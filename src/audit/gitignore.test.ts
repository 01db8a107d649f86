import { test } from "node:test"
import assert from "node:assert/strict"
import { isIgnored, parseGitignore } from "./gitignore.js"

test("gitignore patterns: basename, anchored, directory-only, globs, negation, nesting", () => {
  const root = parseGitignore(
    "# comment\n*.log\n/build\ncache/\n!keep.log\ndocs/**/*.tmp\na?c\n[xy].bak\n",
    "",
  )
  const sub = parseGitignore("local.txt\n", "sub")
  const files = [root, sub]
  const ignored = (path: string, dir = false): boolean => isIgnored(path, dir, files)
  assert.equal(ignored("x.log"), true)
  assert.equal(ignored("deep/x.log"), true)
  assert.equal(ignored("keep.log"), false)
  assert.equal(ignored("build", true), true)
  assert.equal(ignored("src/build", true), false)
  assert.equal(ignored("cache", true), true)
  assert.equal(ignored("cache", false), false)
  assert.equal(ignored("docs/a/b/c.tmp"), true)
  assert.equal(ignored("docs/c.tmp"), true)
  assert.equal(ignored("other/c.tmp"), false)
  assert.equal(ignored("abc"), true)
  assert.equal(ignored("a/c"), false)
  assert.equal(ignored("x.bak"), true)
  assert.equal(ignored("z.bak"), false)
  assert.equal(ignored("sub/local.txt"), true)
  assert.equal(ignored("local.txt"), false)
})
