/**
 * The audit and `coffer textconv` on files the real peers wrote (docs/audit.md "What is
 * read", "Diffs of encrypted files"): sops 3.13.2 documents of every store (YAML, JSON,
 * dotenv, INI, binary) and age 1.3.2 files (X25519 and SSH recipients, armored). The audit
 * reads each store's recipients and finds the stale ones per key group, a changed Shamir
 * threshold, and an age file with an X25519 stanza too many; textconv prints exactly what
 * `sops decrypt` and `age -d` print to someone holding a key, and to someone without one a
 * placeholder that keeps the document's shape and none of its values.
 */
import { test, type TestContext } from "node:test"
import assert from "node:assert/strict"
import { execFileSync } from "node:child_process"
import { mkdirSync, readFileSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { runCli, runCommand } from "../support/cli.js"
import { requirePeer } from "../support/peers.js"
import { tmpTree } from "../support/tmp.js"
import { requireTool } from "../support/tools.js"
import { generateX25519Identity } from "../../src/age/x25519.js"
import { generateSshEd25519KeyPair } from "../../src/keys/ssh-keygen.js"
import type { AuditReport } from "../../src/audit/report.js"

interface Key {
  readonly recipient: string
  readonly keyFile: string
}

/** The plaintext of each file, with a value nobody may see without a key. */
const PLAIN: Readonly<Record<string, string>> = {
  "app/clean.yaml": "db:\n  password: yaml-value-17\nport: 5432\n",
  "app/clean.json": '{"api": {"token": "json-value-23"}, "retries": 3}\n',
  "app/clean.env": "API_TOKEN=dotenv-value-31\nLOG_LEVEL=debug\n",
  "app/clean.ini": "[db]\npassword = ini-value-41\nhost = db.internal\n",
  "app/clean.bin": "binary-value-53\n\u0000\u0001raw\n",
  "app/extra.ini": "[x]\nkey = ini-value-67\n",
  "app/missing.bin": "binary-value-71\n",
  "shared/db.yaml": "root: yaml-value-83\n",
  "vault/thr.json": '{"root": "json-value-97"}\n',
}
const AGE_PLAIN: Readonly<Record<string, string>> = {
  "agenix/clean.age": "age-value-101",
  "agenix/armored.age": "age-value-103",
  "agenix/extra.age": "age-value-107",
}

interface Repository {
  readonly dir: string
  readonly admin: Key
  readonly sops: string
  readonly age: string
  /** Environments: one with admin's key, one with no key at all. */
  readonly withKey: Record<string, string | undefined>
  readonly noKey: Record<string, string | undefined>
}

function build(t: TestContext): Repository | undefined {
  if (!requireTool(t, "git", "git") || !requireTool(t, "nix-instantiate", "nix-bin")) return
  const sops = requirePeer(t, "sops")
  const age = requirePeer(t, "age")
  if (sops === null || age === null) return
  const dir = tmpTree(t)
  const keys = tmpTree(t)
  const home = tmpTree(t)
  const key = (name: string): Key => {
    const identity = generateX25519Identity()
    const keyFile = join(keys, `${name}.txt`)
    writeFileSync(keyFile, `${identity.encode()}\n`, { mode: 0o600 })
    return { recipient: identity.toRecipient().encode(), keyFile }
  }
  const [admin, ops, h1, h2, gone] = ["admin", "ops", "h1", "h2", "gone"].map(key) as [
    Key,
    Key,
    Key,
    Key,
    Key,
  ]
  const web = generateSshEd25519KeyPair("root@web")
  const webPub = join(keys, "web.pub")
  writeFileSync(webPub, web.publicKey)

  const noKey = {
    HOME: home,
    XDG_CONFIG_HOME: join(home, ".config"),
    SOPS_AGE_KEY: undefined,
    SOPS_AGE_KEY_FILE: undefined,
    SOPS_AGE_KEY_CMD: undefined,
    SOPS_AGE_SSH_PRIVATE_KEY_FILE: undefined,
    SOPS_CONFIG: undefined,
    GNUPGHOME: join(home, ".gnupg"),
  }
  // enough keys for every file: the Shamir ones need a share from each group
  const keyFile = join(keys, "keys.txt")
  writeFileSync(keyFile, [admin, ops, h1].map((k) => readFileSync(k.keyFile, "utf8")).join(""), {
    mode: 0o600,
  })
  const withKey = { ...noKey, SOPS_AGE_KEY_FILE: keyFile }

  writeFileSync(
    join(dir, ".sops.yaml"),
    `keys:
  users:
    - &admin ${admin.recipient}
    - &ops ${ops.recipient}
  hosts:
    - &h1 ${h1.recipient}
    - &h2 ${h2.recipient}
creation_rules:
  - path_regex: ^app/
    age: [*admin, *h1]
  - path_regex: ^shared/
    shamir_threshold: 2
    key_groups:
      - age: [*admin, *ops]
      - age: [*h1, *h2]
  - path_regex: ^vault/
    shamir_threshold: 2
    key_groups:
      - age: [*admin]
      - age: [*ops]
      - age: [*h1]
`,
  )
  // an older rule the shared files were encrypted with (outside the tree)
  const before = join(keys, "before.sops.yaml")
  writeFileSync(
    before,
    `creation_rules:
  - path_regex: db\\.yaml$
    shamir_threshold: 2
    key_groups:
      - age: [${admin.recipient}, ${ops.recipient}]
      - age: [${h1.recipient}]
  - path_regex: thr\\.json$
    shamir_threshold: 3
    key_groups:
      - age: [${admin.recipient}]
      - age: [${ops.recipient}]
      - age: [${h1.recipient}]
`,
  )
  for (const [path, text] of Object.entries(PLAIN)) {
    mkdirSync(join(dir, path, ".."), { recursive: true })
    writeFileSync(join(dir, path), text)
  }
  const runSops = (args: readonly string[]): void => {
    execFileSync(sops, args, { cwd: dir, env: { ...process.env, ...noKey }, stdio: "pipe" })
  }
  for (const ext of ["yaml", "json", "env", "ini", "bin"])
    runSops(["encrypt", "-i", `app/clean.${ext}`])
  runSops([
    "encrypt",
    "--age",
    [admin.recipient, h1.recipient, gone.recipient].join(","),
    "-i",
    "app/extra.ini",
  ])
  runSops(["encrypt", "--age", admin.recipient, "-i", "app/missing.bin"])
  runSops(["--config", before, "encrypt", "-i", "shared/db.yaml"])
  runSops(["--config", before, "encrypt", "-i", "vault/thr.json"])

  mkdirSync(join(dir, "agenix"))
  writeFileSync(
    join(dir, "agenix/secrets.nix"),
    `let
  admin = "${admin.recipient}";
  web = "${web.publicKey.trim()}";
in {
  "clean.age".publicKeys = [ admin web ];
  "armored.age" = { publicKeys = [ admin ]; armor = true; };
  "extra.age".publicKeys = [ admin ];
}
`,
  )
  const runAge = (path: string, args: readonly string[]): void => {
    execFileSync(age, [...args, "-o", join(dir, path)], {
      input: AGE_PLAIN[path],
      stdio: ["pipe", "pipe", "pipe"],
    })
  }
  runAge("agenix/clean.age", ["-r", admin.recipient, "-R", webPub])
  runAge("agenix/armored.age", ["-a", "-r", admin.recipient])
  runAge("agenix/extra.age", ["-r", admin.recipient, "-r", ops.recipient])

  execFileSync("git", ["init", "-q"], { cwd: dir })
  return { dir, admin, sops, age, withKey, noKey }
}

test("audit reads sops files of every store and age files as the real peers wrote them", async (t) => {
  const repo = build(t)
  if (repo === undefined) return
  const r = await runCli(["audit", "--json"], { cwd: repo.dir, env: repo.noKey })
  assert.equal(r.status, 1, r.stderr)
  const report = JSON.parse(r.stdout.toString()) as AuditReport
  const file = (path: string) => {
    const f = report.files.find((x) => x.path === path)
    assert.ok(f !== undefined, `${path} is not in the report`)
    return f
  }
  assert.deepEqual(
    ["yaml", "json", "env", "ini", "bin"].map((ext) => file(`app/clean.${ext}`).format),
    ["yaml", "json", "dotenv", "ini", "binary"],
  )
  for (const ext of ["yaml", "json", "env", "ini", "bin"]) {
    assert.deepEqual(file(`app/clean.${ext}`).access, { admin: "read", h1: "read" }, ext)
    assert.deepEqual(file(`app/clean.${ext}`).findings, [], ext)
  }
  assert.equal(file("agenix/armored.age").format, "age-armored")
  assert.deepEqual(file("agenix/clean.age").access, { web: "read", admin: "unverified" })

  const gone = report.identities.find((i) => i.name === null && !i.listed)
  assert.ok(gone !== undefined, JSON.stringify(report.identities))
  assert.deepEqual(
    report.findings.map((f) => [f.class, f.path, f.details["groups"], f.details["threshold"]]),
    [
      ["stale", "agenix/extra.age", [], undefined],
      ["stale", "app/extra.ini", [{ index: 0, missing: [], extra: [gone.id] }], null],
      ["stale", "app/missing.bin", [{ index: 0, missing: ["h1"], extra: [] }], null],
      ["stale", "shared/db.yaml", [{ index: 1, missing: ["h2"], extra: [] }], null],
      ["stale", "vault/thr.json", [], { file: 3, rule: 2 }],
    ],
  )
  const extraAge = report.findings[0]
  assert.equal(extraAge?.details["extraX25519"], 1)
  assert.equal(extraAge.fix, "coffer agenix --rules agenix/secrets.nix -r")
  assert.deepEqual(file("shared/db.yaml").access, {
    admin: "share",
    ops: "share",
    h1: "share",
    h2: "missing",
  })
  assert.deepEqual(file("shared/db.yaml").keyGroups, [["admin", "ops"], ["h1"]])
  assert.equal(file("vault/thr.json").threshold, 3)

  // the same, as a person reads it
  const table = await runCli(["audit", "--no-matrix"], { cwd: repo.dir, env: repo.noKey })
  const out = table.stdout.toString()
  for (const line of [
    /^ {2}agenix\/extra\.age +differs from its entry in agenix\/secrets\.nix: 1 X25519 stanza for recipients not in the rule\n +fix: coffer agenix --rules agenix\/secrets\.nix -r$/m,
    /^ {2}app\/extra\.ini +differs from creation rule 1: extra age1\S+\n +fix: coffer updatekeys -y --rotate app\/extra\.ini$/m,
    /^ {2}app\/missing\.bin +differs from creation rule 1: missing h1\n +fix: coffer updatekeys -y app\/missing\.bin$/m,
    /^ {2}shared\/db\.yaml +differs from creation rule 2: key group 2: missing h2\n +fix: coffer updatekeys -y shared\/db\.yaml$/m,
    /^ {2}vault\/thr\.json +differs from creation rule 3: threshold 3 -> 2\n +fix: coffer updatekeys -y vault\/thr\.json$/m,
  ])
    assert.match(out, line)
  assert.match(out, /^0 plaintext, 5 stale, 0 warnings in 12 encrypted files and \d+ identities$/m)
})

test("textconv prints what sops decrypt and age -d print, and without a key no value at all", async (t) => {
  const repo = build(t)
  if (repo === undefined) return
  for (const path of Object.keys(PLAIN)) {
    const peer = await runCommand(repo.sops, ["decrypt", path], {
      cwd: repo.dir,
      env: repo.withKey,
    })
    assert.equal(peer.status, 0, peer.stderr)
    const ours = await runCli(["textconv", path], { cwd: repo.dir, env: repo.withKey })
    assert.equal(ours.status, 0, ours.stderr)
    assert.deepEqual(ours.stdout, peer.stdout, path)
  }
  for (const path of Object.keys(AGE_PLAIN)) {
    const ours = await runCli(["textconv", path], { cwd: repo.dir, env: repo.withKey })
    assert.equal(ours.status, 0, ours.stderr)
    assert.equal(ours.stdout.toString(), AGE_PLAIN[path], path)
  }

  const secrets = [...Object.values(PLAIN), ...Object.values(AGE_PLAIN)].flatMap((text) =>
    [...text.matchAll(/[a-z]+-value-\d+/g)].map((m) => m[0]),
  )
  const masked = async (path: string): Promise<string> => {
    const r = await runCli(["textconv", path], { cwd: repo.dir, env: repo.noKey })
    assert.equal(r.status, 0, r.stderr)
    const text = r.stdout.toString()
    for (const secret of secrets) assert.ok(!text.includes(secret), `${path} shows a value`)
    assert.match(
      text,
      /^# coffer textconv: no key here opens this file(; values are shown as digests of their ciphertext)?\n/,
    )
    return text
  }
  const D = "\\(encrypted sha256:[0-9a-f]{12}\\)"
  assert.match(
    await masked("app/clean.yaml"),
    new RegExp(`^db:\\n {4}password: ${D}\\nport: ${D}\\n`, "m"),
  )
  assert.match(
    await masked("app/clean.json"),
    new RegExp(
      `^\\{\\n\\t"api": \\{\\n\\t\\t"token": "${D}"\\n\\t\\},\\n\\t"retries": "${D}"\\n\\}`,
      "m",
    ),
  )
  assert.match(await masked("app/clean.env"), new RegExp(`^API_TOKEN=${D}\\nLOG_LEVEL=${D}$`, "m"))
  assert.match(
    await masked("app/clean.ini"),
    new RegExp(`^\\[db\\]\\npassword = ${D}\\nhost {5}= ${D}$`, "m"),
  )
  assert.match(
    await masked("app/clean.bin"),
    new RegExp(
      `^# sops binary file, lastmodified \\S+, recipients: age1\\S+, age1\\S+\\n${D}\\n$`,
      "m",
    ),
  )
  assert.match(
    await masked("agenix/clean.age"),
    new RegExp(`^# age file, stanzas: X25519, ssh-ed25519 \\S+\\n${D}\\n$`, "m"),
  )
  assert.match(
    await masked("agenix/armored.age"),
    new RegExp(`^# age file \\(armored\\), stanzas: X25519\\n${D}\\n$`, "m"),
  )
  // the same ciphertext gives the same digest: unchanged values are unchanged lines in a diff
  assert.equal(await masked("app/clean.yaml"), await masked("app/clean.yaml"))
})
