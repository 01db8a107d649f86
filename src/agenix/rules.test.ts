/**
 * Unit tests for agenix rules (docs/agenix.md "The agenix command line"): validation of the
 * evaluated `secrets.nix`, the lookup by name and by path, and the rules file choice
 * (`--rules`, `RULES`, default).
 */
import { test } from "node:test"
import assert from "node:assert/strict"
import { AgenixRulesError, NoAgenixRuleError } from "./errors.js"
import { chooseRulesFile, findAgenixRule, loadAgenixRules, parseAgenixRules } from "./rules.js"

const admin = "age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p"
const host = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIJvOqNw8X3ZrpVaRk0Tv0xqb4b3lH8h2k6Gv4a6q8Rj1 host"

test("parses publicKeys and armor, resolving names against the rules file's directory", () => {
  const rules = parseAgenixRules(
    {
      "a.age": { publicKeys: [admin, ` ${host} `, admin] },
      "sub/b.age": { publicKeys: [admin], armor: true },
      "c.age": { publicKeys: [admin], armor: false, extra: 1 },
    },
    "/repo/secrets.nix",
  )
  assert.deepEqual(
    rules.rules.map((r) => [r.name, r.path, r.publicKeys, r.armor]),
    [
      ["a.age", "/repo/a.age", [admin, host], false],
      ["sub/b.age", "/repo/sub/b.age", [admin], true],
      ["c.age", "/repo/c.age", [admin], false],
    ],
  )
  assert.equal(rules.directory, "/repo")
})

test("rejects rules of the wrong shape, naming the entry", () => {
  const bad: [unknown, RegExp][] = [
    [[1], /must be an attribute set of files/],
    [{ "a.age": [admin] }, /"a.age" must be an attribute set with publicKeys/],
    [{ "a.age": {} }, /"a.age" has no publicKeys list/],
    [{ "a.age": { publicKeys: [] } }, /"a.age" has an empty publicKeys list/],
    [{ "a.age": { publicKeys: [admin, 3] } }, /publicKeys item 2 is not a string/],
    [{ "a.age": { publicKeys: [admin], armor: "yes" } }, /armor must be true or false/],
  ]
  for (const [value, message] of bad) {
    assert.throws(
      () => parseAgenixRules(value, "/r/secrets.nix"),
      (e: unknown) => {
        assert.ok(e instanceof AgenixRulesError)
        assert.match(e.message, message)
        return true
      },
    )
  }
})

test("finds a rule by the name as given, then by path; unknown files list the names", () => {
  const rules = parseAgenixRules(
    { "secrets/a.age": { publicKeys: [admin] }, "b.age": { publicKeys: [admin] } },
    "/repo/secrets.nix",
  )
  assert.equal(findAgenixRule(rules, "secrets/a.age", "/elsewhere").name, "secrets/a.age")
  assert.equal(findAgenixRule(rules, "a.age", "/repo/secrets").name, "secrets/a.age")
  assert.equal(findAgenixRule(rules, "/repo/b.age", "/").name, "b.age")
  assert.equal(findAgenixRule(rules, "./b.age", "/repo").name, "b.age")
  assert.throws(
    () => findAgenixRule(rules, "c.age", "/repo"),
    (e: unknown) =>
      e instanceof NoAgenixRuleError &&
      /"c.age" has no entry/.test(e.message) &&
      e.hints.some((h) => h.includes('"secrets/a.age"')),
  )
})

test("the rules file is --rules, else RULES, else ./secrets.nix", () => {
  assert.equal(chooseRulesFile({}, undefined, "/w"), "/w/secrets.nix")
  assert.equal(chooseRulesFile({ RULES: "../r.nix" }, undefined, "/w/x"), "/w/r.nix")
  assert.equal(chooseRulesFile({ RULES: "" }, undefined, "/w"), "/w/secrets.nix")
  assert.equal(chooseRulesFile({ RULES: "/a.nix" }, "b.nix", "/w"), "/w/b.nix")
})

test("JSON rules are read without Nix; Nix output is parsed; read failures name the file", async () => {
  const calls: string[] = []
  const io = {
    evaluateNix: (path: string) => {
      calls.push(`nix ${path}`)
      return Promise.resolve(JSON.stringify({ "a.age": { publicKeys: [admin] } }))
    },
    readFile: (path: string) => {
      calls.push(`read ${path}`)
      if (path.endsWith("missing.json")) {
        return Promise.reject(Object.assign(new Error("ENOENT"), { code: "ENOENT" }))
      }
      return Promise.resolve(JSON.stringify({ "b.age": { publicKeys: [admin] } }))
    },
  }
  assert.equal((await loadAgenixRules("/r/secrets.nix", io)).rules[0]?.name, "a.age")
  assert.equal((await loadAgenixRules("/r/secrets.json", io)).rules[0]?.name, "b.age")
  assert.deepEqual(calls, ["nix /r/secrets.nix", "read /r/secrets.json"])
  await assert.rejects(loadAgenixRules("/r/missing.json", io), (e: unknown) => {
    return e instanceof AgenixRulesError && /"\/r\/missing.json": no such file/.test(e.message)
  })
})
