// What a new user trips on in the first hour (issue 16), through the real bin/coffer:
// habits from sops and age, errors that mislead or let things through.
import { test } from "node:test"
import assert from "node:assert/strict"
import { readFileSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import type { TestContext } from "node:test"
import { runCli } from "../support/cli.js"
import { tmpTree } from "../support/tmp.js"
import { sopsEnv } from "../sops/sops-env.js"
import { generateX25519Identity } from "../../src/age/x25519.js"

interface Keyed {
  readonly dir: string
  readonly recipient: string
  readonly env: Record<string, string | undefined>
}

/** A directory with an age key (SOPS_AGE_KEY_FILE points at it) and an isolated HOME. */
function keyed(t: TestContext, files: Readonly<Record<string, string>> = {}): Keyed {
  const identity = generateX25519Identity()
  const dir = tmpTree(t, { "key.txt": `${identity.encode()}\n`, ...files })
  const env = { ...sopsEnv(t).env, SOPS_AGE_KEY_FILE: join(dir, "key.txt") }
  return { dir, recipient: identity.toRecipient().encode(), env }
}

test(".sops.yaml: a misspelt rule key stops encrypt, naming it; --allow-unknown-config-keys warns", async (t) => {
  const other = generateX25519Identity().toRecipient().encode()
  const { dir, recipient, env } = keyed(t, { "secrets/prod/db.yaml": "password: hunter2\n" })
  // the typo would make the first rule a catch-all: prod secrets encrypted to the dev key
  writeFileSync(
    join(dir, ".sops.yaml"),
    `creation_rules:\n  - path_regx: ^secrets/dev/\n    age: ${other}\n  - path_regex: ^secrets/prod/\n    age: ${recipient}\n`,
  )
  const file = join(dir, "secrets/prod/db.yaml")
  const refused = await runCli(["encrypt", "-i", "secrets/prod/db.yaml"], { env, cwd: dir })
  assert.equal(refused.status, 1, refused.stderr)
  assert.match(
    refused.stderr,
    /^error: ".*\.sops\.yaml" line 2: creation rule 1: unknown key "path_regx" \(did you mean "path_regex"\?\)$/m,
  )
  assert.match(refused.stderr, /^hint: .*would match every file/m)
  assert.match(refused.stderr, /^hint: .*--allow-unknown-config-keys/m)
  assert.equal(readFileSync(file, "utf8"), "password: hunter2\n")

  // edit reads the rules for a new file; updatekeys before it looks at any file
  for (const command of [
    ["edit", "secrets/prod/new.yaml"],
    ["updatekeys", "-y", "secrets/prod/db.yaml"],
  ]) {
    const r = await runCli(command, {
      env: { ...env, EDITOR: "true" },
      cwd: dir,
    })
    assert.equal(r.status, 1, `${command.join(" ")}: ${r.stderr}`)
    assert.match(r.stderr, /unknown key "path_regx"/, command.join(" "))
  }

  // allowed: sops's behaviour, with a warning (the catch-all rule wins)
  const allowed = await runCli(
    ["encrypt", "--allow-unknown-config-keys", "-i", "secrets/prod/db.yaml"],
    { env, cwd: dir },
  )
  assert.equal(allowed.status, 0, allowed.stderr)
  assert.match(allowed.stderr, /^warning: .*unknown key "path_regx" .*is ignored$/m)
  assert.match(readFileSync(file, "utf8"), new RegExp(other))
})

test('.sops.yaml: "creation_rule:" (singular) is named, with the key it should be', async (t) => {
  const { dir, recipient, env } = keyed(t, { "a.yaml": "a: 1\n" })
  writeFileSync(join(dir, ".sops.yaml"), `creation_rule:\n  - age: ${recipient}\n`)
  const r = await runCli(["encrypt", "a.yaml"], { env, cwd: dir })
  assert.equal(r.status, 1)
  assert.match(
    r.stderr,
    /^error: .*line 1: unknown key "creation_rule" \(did you mean "creation_rules"\?\)$/m,
  )
  assert.equal(r.stdout.length, 0)
})
