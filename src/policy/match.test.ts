// Unit tests for creation-rule matching (docs/formats/sops.md ".sops.yaml") and the RE2
// translation.
import { test } from "node:test"
import assert from "node:assert/strict"
import { parseSopsConfig } from "./config.js"
import { compileGoRegex, matchCreationRule, rulePathFor } from "./match.js"
import { ConfigNotFoundError, NoMatchingRuleError, PathRegexError } from "./errors.js"

// The rules of the sops README (keys shortened): first match wins, no path_regex = catch-all.
const README = parseSopsConfig(
  `creation_rules:
  - path_regex: \\.dev\\.yaml$
    age: age1dev
  - path_regex: \\.prod\\.yaml$
    age: age1prod
  - path_regex: \\.gcp\\.yaml$
    gcp_kms: projects/p/locations/global/keyRings/r/cryptoKeys/k
  - pgp: FBC7B9E2A4F9289AC0C1D4843D16CEE4A27381B4
`,
  "/repo/.sops.yaml",
)

test("sops README rules: first match wins; a rule without path_regex matches everything", () => {
  const index = (file: string, cwd = "/repo"): number =>
    matchCreationRule(README, file, cwd).rule.index
  assert.equal(index("mydir/secret.dev.yaml"), 0)
  assert.equal(index("x.prod.yaml"), 1)
  assert.equal(index("x.gcp.yaml"), 2)
  assert.equal(index("x.yaml"), 3)
  // both .dev.yaml and the catch-all match: the first rule wins
  assert.equal(index("/elsewhere/a.dev.yaml"), 0)
})

const EXAMPLE = parseSopsConfig(
  `keys:
  - &admin age1admin
  - &dao age1dao
creation_rules:
  - path_regex: secrets/dao/[^/]+\\.yaml$
    key_groups:
      - age: [*admin, *dao]
  - path_regex: secrets/[^/]+\\.yaml$
    key_groups:
      - age: [*admin]
`,
  "/repo/.sops.yaml",
)

test('the rules of docs/formats/sops.md ".sops.yaml": host folder first, then the general folder', () => {
  const m = matchCreationRule(EXAMPLE, "secrets/dao/tailscale.yaml", "/repo")
  assert.equal(m.rule.index, 0)
  assert.equal(m.matchedPath, "secrets/dao/tailscale.yaml")
  assert.deepEqual(m.rule.keyGroups[0]?.age, ["age1admin", "age1dao"])
  assert.equal(matchCreationRule(EXAMPLE, "secrets/db.yaml", "/repo").rule.index, 1)
  // from a subdirectory: the path is made relative to the config's directory, not the cwd
  const sub = matchCreationRule(EXAMPLE, "tailscale.yaml", "/repo/secrets/dao")
  assert.equal(sub.matchedPath, "secrets/dao/tailscale.yaml")
  assert.equal(sub.rule.index, 0)
  assert.equal(matchCreationRule(EXAMPLE, "../db.yaml", "/repo/secrets/dao").rule.index, 1)
  // nested deeper than the patterns allow: [^/]+ does not cross folders
  assert.throws(
    () => matchCreationRule(EXAMPLE, "secrets/dao/x/y.yaml", "/repo"),
    NoMatchingRuleError,
  )
})

test("no match: the error names the path tried and every pattern", () => {
  try {
    matchCreationRule(EXAMPLE, "notes.yaml", "/repo")
    assert.fail("expected NoMatchingRuleError")
  } catch (e) {
    assert.ok(e instanceof NoMatchingRuleError)
    assert.equal(e.matchedPath, "notes.yaml")
    assert.equal(e.message, 'no creation rule in "/repo/.sops.yaml" matches "notes.yaml"')
    assert.equal(
      e.hints[0],
      "rules are tried in order; patterns were rule 1 (line 5): secrets/dao/[^/]+\\.yaml$; rule 2 (line 8): secrets/[^/]+\\.yaml$",
    )
    assert.match(e.hints[1] ?? "", /relative to the config file's directory \/repo/)
  }
})

test("the matched path: relative inside the config's directory, absolute outside, cleaned", () => {
  assert.equal(rulePathFor("a/./b/../c.yaml", "/repo/.sops.yaml", "/repo"), "a/c.yaml")
  assert.equal(rulePathFor("/tmp/x.yaml", "/repo/.sops.yaml", "/repo"), "/tmp/x.yaml")
  // a sibling directory sharing the prefix is not "inside"
  assert.equal(rulePathFor("/repo2/x.yaml", "/repo/.sops.yaml", "/"), "/repo2/x.yaml")
  assert.equal(rulePathFor("x.yaml", "../.sops.yaml", "/repo/sub"), "sub/x.yaml")
  // config at the root: "/" + "/" is never a prefix, so the path stays absolute (as sops)
  assert.equal(rulePathFor("/etc/x.yaml", "/.sops.yaml", "/"), "/etc/x.yaml")
  // unanchored, so an absolute path can still match
  const anchored = parseSopsConfig(
    "creation_rules:\n  - path_regex: ^secrets/\n    age: a\n",
    "/repo/.sops.yaml",
  )
  assert.throws(() => matchCreationRule(anchored, "/tmp/secrets/x", "/repo"), NoMatchingRuleError)
  assert.equal(matchCreationRule(EXAMPLE, "/tmp/secrets/x.yaml", "/repo").rule.index, 1)
})

test("a config without creation_rules is an error when matching", () => {
  const config = parseSopsConfig("stores: {}\n", "/repo/.sops.yaml")
  assert.throws(() => matchCreationRule(config, "x.yaml", "/repo"), ConfigNotFoundError)
  // the keys it has instead are named (a "rules:" list is not read by sops)
  const other = parseSopsConfig("rules:\n  - age: x\n", "/repo/.sops.yaml")
  assert.throws(
    () => matchCreationRule(other, "x.yaml", "/repo"),
    (e: unknown) =>
      e instanceof ConfigNotFoundError &&
      e.hints.some((h) => h.startsWith('its top-level keys are "rules": sops reads only')),
  )
})

test("an invalid pattern is reported with its rule and line only when reached", () => {
  const config = parseSopsConfig(
    "creation_rules:\n  - path_regex: ^a/\n    age: x\n  - path_regex: (?=b)\n    age: y\n",
    "/r/.sops.yaml",
  )
  assert.equal(matchCreationRule(config, "a/f", "/r").rule.index, 0)
  assert.throws(
    () => matchCreationRule(config, "b/f", "/r"),
    (e: unknown) =>
      e instanceof PathRegexError && /line 4: creation rule 2: .*lookahead/.test(e.message),
  )
})

test("RE2 syntax is translated: flags, named groups, \\A \\z, \\Q..\\E, POSIX classes, ] first", () => {
  assert.ok(compileGoRegex("(?i)^SECRETS/").test("secrets/x"))
  assert.ok(compileGoRegex("(?P<env>dev|prod)/").test("prod/x"))
  assert.ok(compileGoRegex("\\Asecrets/").test("secrets/x"))
  assert.ok(!compileGoRegex("(?m)\\Asecrets/").test("x\nsecrets/x"))
  assert.ok(compileGoRegex("\\.yaml\\z").test("a.yaml"))
  assert.ok(compileGoRegex("\\Qa.b*c\\E$").test("xa.b*c"))
  assert.ok(!compileGoRegex("\\Qa.b\\E").test("axb"))
  assert.ok(compileGoRegex("^[[:alpha:]]+[[:digit:]]$").test("abc1"))
  assert.ok(!compileGoRegex("^[[:alpha:]]+$").test("ab1"))
  assert.ok(compileGoRegex("^[]a]+$").test("]a]"))
  assert.ok(compileGoRegex("^[^]a]+$").test("bcd"))
  assert.ok(compileGoRegex("\\x{41}").test("A"))
  // ordinary patterns behave the same
  assert.ok(compileGoRegex("secrets/dao/[^/]+\\.yaml$").test("secrets/dao/t.yaml"))
  assert.ok(!compileGoRegex("secrets/dao/[^/]+\\.yaml$").test("secrets/dao/t.yaml.bak"))
})

test("RE2-invalid or untranslatable patterns are refused, not matched differently", () => {
  for (const bad of [
    "(?=x)",
    "(?!x)",
    "(?<=x)a",
    "(a)\\1",
    "\\p{Greek}",
    "a(?i)b",
    "(?U)a*",
    "[[:nope:]]",
    "(",
    "\\",
  ]) {
    assert.throws(() => compileGoRegex(bad), PathRegexError, bad)
  }
})
