/**
 * `coffer install` for real (issue 5 "Proof"): as root, on a real ramfs mounted inside a
 * private mount namespace (`unshare --mount --propagation private`, held open by a `sleep`
 * and entered with `nsenter`, so nothing leaks to the host), with real users and groups
 * made for the test by `useradd`/`groupadd` and removed after, real sops files encrypted to
 * a real ed25519 host key (both to its ssh-to-age recipient and to its native SSH
 * recipient), and an agenix-style age file made by Debian's `age`.
 *
 * The test process sees the namespace's files through `/proc/PID/root`.
 */
import { test } from "node:test"
import assert from "node:assert/strict"
import { execFileSync } from "node:child_process"
import { randomBytes } from "node:crypto"
import {
  chmodSync,
  existsSync,
  lstatSync,
  readFileSync,
  readdirSync,
  readlinkSync,
  writeFileSync,
} from "node:fs"
import { join } from "node:path"
import { encryptFile } from "../../src/sops/index.js"
import { placeholderFor } from "../../src/host/template.js"
import { binPath } from "../support/cli.js"
import type { RunResult } from "../support/cli.js"
import { tmpTree } from "../support/tmp.js"
import { privateNamespace } from "../support/namespace.js"
import {
  createAccounts,
  filesUnder,
  hostKey,
  keysGid,
  modeOf,
  otherRecipient,
  requireInstallTools,
  sopsFile,
} from "./fixtures.js"

test("a sops-nix manifest installs on a ramfs: owners, modes, nested names, links, templates, age files; bad secrets named; generation 2 prunes 1 and restarts", async (t) => {
  if (!requireInstallTools(t)) return
  const root = tmpTree(t, {})
  chmodSync(root, 0o755)
  const ns = await privateNamespace(t)
  const acct = createAccounts(t)
  const key = hostKey(root)
  const ghost = `cftghost${randomBytes(3).toString("hex")}`
  const a = join(root, "a.yaml")
  await sopsFile(
    a,
    "yaml",
    "db:\n  password: pw-one\napi: api-token-1\nport: 5432\n",
    key.ageRecipient,
  )
  await sopsFile(join(root, "b.json"), "json", '{"native": "native-secret"}', key.sshRecipient)
  await sopsFile(join(root, "c.yaml"), "yaml", "x: unreachable-value\n", otherRecipient())
  await sopsFile(join(root, "d.yaml"), "yaml", "flaky: flaky-v1\n", key.ageRecipient)
  // a binary secret whose bytes are not UTF-8: installed byte for byte
  const blob = Uint8Array.from([0, 255, 0xc3, 0x28, 13, 10, 0xfe, 0x80])
  writeFileSync(
    join(root, "e.bin"),
    await encryptFile(blob, "binary", { keyGroups: [{ age: [key.ageRecipient], pgp: [] }] }),
  )
  execFileSync("age", ["-R", `${key.path}.pub`, "-o", join(root, "token.age")], {
    input: "agenix-token-value",
  })
  // a fake systemctl records how it is called
  writeFileSync(join(root, "systemctl"), `#!/bin/sh\necho "$@" >> ${root}/systemctl.log\n`, {
    mode: 0o755,
  })
  execFileSync("mkdir", ["-p", join(root, "bin")])
  execFileSync("mv", [join(root, "systemctl"), join(root, "bin", "systemctl")])

  const mount = `${root}/run/secrets.d`
  const link = `${root}/run/secrets`
  const entry = (name: string, extra: Record<string, unknown>): Record<string, unknown> => ({
    name,
    key: name,
    path: `${link}/${name}`,
    format: "yaml",
    mode: "0400",
    owner: null,
    uid: 0,
    group: null,
    gid: 0,
    sopsFile: a,
    sopsFileHash: "",
    restartUnits: [],
    reloadUnits: [],
    neededForUsers: false,
    ...extra,
  })
  const secrets = (nativeMode: string): Record<string, unknown>[] => [
    entry("db/password", {
      owner: acct.user,
      group: acct.group,
      mode: "0440",
      restartUnits: ["db.service"],
    }),
    entry("api", { uid: acct.uid, gid: acct.gid, path: `${root}/etc/app/api-token` }),
    entry("port", {}),
    entry("native", {
      sopsFile: join(root, "b.json"),
      format: "json",
      mode: nativeMode,
      restartUnits: ["native.service"],
    }),
    entry("broken", { key: "nope/missing" }),
    entry("undecryptable", { key: "x", sopsFile: join(root, "c.yaml") }),
    entry("ghost", { key: "api", owner: ghost }),
    entry("flaky", { sopsFile: join(root, "d.yaml"), restartUnits: ["flaky.service"] }),
    entry("blob", { key: "", format: "binary", sopsFile: join(root, "e.bin") }),
    entry("agenix-token", {
      key: "",
      format: "age",
      sopsFile: join(root, "token.age"),
      owner: acct.user,
    }),
  ]
  const manifest = (nativeMode: string): string =>
    JSON.stringify({
      secrets: secrets(nativeMode),
      templates: [
        {
          name: "app.conf",
          content: `password=${placeholderFor("db/password")}\n`,
          path: `${link}/rendered/app.conf`,
          mode: "0400",
          owner: acct.user,
          uid: 0,
          group: null,
          gid: 0,
          file: null,
          restartUnits: ["app.service"],
          reloadUnits: [],
        },
      ],
      placeholderBySecretName: Object.fromEntries(
        secrets(nativeMode).map((s) => [String(s["name"]), placeholderFor(String(s["name"]))]),
      ),
      secretsMountPoint: mount,
      symlinkPath: link,
      keepGenerations: 1,
      gnupgHome: null,
      sshKeyPaths: [],
      ageKeyFile: null,
      ageSshKeyPaths: [key.path],
      useTmpfs: false,
      userMode: false,
      logging: { keyImport: true, secretChanges: true },
    })
  const manifestPath = join(root, "manifest.json")
  writeFileSync(manifestPath, manifest("0400"))
  const env = {
    PATH: `${root}/bin:${process.env["PATH"] ?? ""}`,
    SOPS_RESTART_UNITS_VIA_SYSTEMCTL: "1",
  }
  const values = [
    "pw-one",
    "pw-two",
    "api-token-1",
    "native-secret",
    "unreachable-value",
    "flaky-v1",
    "agenix-token-value",
  ]
  const assertNoValues = (r: RunResult): void => {
    for (const v of values) {
      assert.ok(
        !r.stdout.toString().includes(v) && !r.stderr.includes(v),
        `value ${v} leaked into output`,
      )
    }
  }

  // --- run 1
  const first = await ns.node([binPath(), "install", manifestPath], env)
  assert.equal(first.status, 1, first.stderr)
  assertNoValues(first)
  for (const name of ["broken", "undecryptable", "ghost"]) {
    assert.match(first.stderr, new RegExp(`secret "${name}"`), `${name} is named`)
  }
  assert.match(first.stderr, /the key "nope\/missing" cannot be found/)
  assert.match(first.stderr, new RegExp(`owner "${ghost}" is not a user`))
  assert.equal(readlinkSync(ns.inside(link)), `${mount}/1`)
  const gen1 = ns.inside(`${mount}/1`)
  const expected = [
    "agenix-token",
    "api",
    "blob",
    "db/password",
    "flaky",
    "native",
    "port",
    "rendered/app.conf",
  ]
  assert.deepEqual(filesUnder(gen1), expected)
  const read = (rel: string, gen = 1): string =>
    readFileSync(ns.inside(`${mount}/${String(gen)}/${rel}`), "utf8")
  assert.equal(read("db/password"), "pw-one")
  assert.equal(read("api"), "api-token-1")
  assert.equal(read("port"), "5432")
  assert.equal(read("native"), "native-secret")
  assert.equal(read("flaky"), "flaky-v1")
  assert.equal(read("agenix-token"), "agenix-token-value")
  assert.deepEqual(new Uint8Array(readFileSync(ns.inside(`${mount}/1/blob`))), blob)
  assert.equal(read("rendered/app.conf"), "password=pw-one\n")
  const st = (rel: string): [number, number, number] => {
    const s = lstatSync(ns.inside(`${mount}/1/${rel}`))
    return [s.uid, s.gid, s.mode & 0o7777]
  }
  assert.deepEqual(st("db/password"), [acct.uid, acct.gid, 0o440])
  assert.deepEqual(st("api"), [acct.uid, acct.gid, 0o400])
  assert.deepEqual(st("port"), [0, 0, 0o400])
  assert.deepEqual(st("agenix-token"), [acct.uid, 0, 0o400])
  assert.deepEqual(st("rendered/app.conf"), [acct.uid, 0, 0o400])
  assert.deepEqual(st("db"), [0, keysGid(), 0o751])
  assert.deepEqual(st(""), [0, keysGid(), 0o751])
  // never world-readable
  for (const rel of expected) assert.equal(modeOf(`${gen1}/${rel}`) & 0o007, 0, rel)
  // the custom path is a link to the stable path, owned by the secret's owner
  const apiLink = `${root}/etc/app/api-token`
  assert.equal(readlinkSync(apiLink), `${link}/api`)
  assert.equal(lstatSync(apiLink).uid, acct.uid)
  // a real ramfs, mounted nodev,nosuid,noexec, only inside the namespace
  const mountinfo = readFileSync(`/proc/${String(ns.pid)}/mountinfo`, "utf8")
  const line = mountinfo.split("\n").find((l) => l.split(" ")[4] === mount)
  assert.ok(line, "the mount point is mounted in the namespace")
  assert.match(line, / - ramfs /)
  assert.match(line, /nosuid,nodev,noexec/)
  assert.deepEqual(readdirSync(mount), [], "nothing of the ramfs is visible on the host")
  assert.ok(!readFileSync("/proc/self/mountinfo", "utf8").includes(mount))
  // first install since boot: nothing restarted
  assert.ok(!existsSync(join(root, "systemctl.log")))

  // --- run 2: a changed value, a mode change, a file that no longer decrypts
  await sopsFile(
    a,
    "yaml",
    "db:\n  password: pw-two\napi: api-token-1\nport: 5432\n",
    key.ageRecipient,
  )
  await sopsFile(join(root, "d.yaml"), "yaml", "flaky: flaky-v2\n", otherRecipient())
  writeFileSync(manifestPath, manifest("0440"))
  const second = await ns.node([binPath(), "install", manifestPath], env)
  assert.equal(second.status, 1, second.stderr)
  assertNoValues(second)
  assert.match(
    second.stderr,
    /secret "flaky" could not be installed: .*keeping its previous content/,
  )
  assert.equal(readlinkSync(ns.inside(link)), `${mount}/2`)
  assert.ok(!existsSync(gen1), "generation 1 was pruned (keepGenerations = 1)")
  // generation 2, and the record of the links coffer placed (only those it may replace)
  assert.deepEqual(readdirSync(ns.inside(mount)), [".coffer-links.json", "2"])
  assert.deepEqual(JSON.parse(readFileSync(ns.inside(`${mount}/.coffer-links.json`), "utf8")), {
    version: 1,
    links: { [apiLink]: `${link}/api` },
  })
  assert.equal(read("db/password", 2), "pw-two")
  assert.equal(read("rendered/app.conf", 2), "password=pw-two\n")
  assert.equal(read("flaky", 2), "flaky-v1", "the failed secret keeps its previous content")
  assert.equal(modeOf(ns.inside(`${mount}/2/native`)), 0o440)
  const out = second.stdout.toString()
  assert.match(out, /modifying secret\(s\): db\/password, native/)
  assert.match(out, /modifying rendered secret\(s\): app.conf/)
  assert.match(out, /restarting: app.service db.service native.service/)
  assert.equal(
    readFileSync(join(root, "systemctl.log"), "utf8"),
    "--no-block try-restart app.service db.service native.service\n",
  )

  // --- run 3: dry run changes nothing
  await sopsFile(
    a,
    "yaml",
    "db:\n  password: pw-three\napi: api-token-1\nport: 5432\n",
    key.ageRecipient,
  )
  const dry = await ns.node([binPath(), "install", "--dry-run", manifestPath], env)
  assert.match(dry.stdout.toString(), /would modify secret\(s\): db\/password/)
  assert.match(dry.stdout.toString(), /would restart: app.service db.service/)
  // the same plan for programs: one JSON document on stdout, names and modes, no value
  const dryJson = await ns.node([binPath(), "install", "--dry-run", "--json", manifestPath], env)
  assert.equal(dryJson.status, 1, dryJson.stderr) // "flaky" still fails
  assertNoValues(dryJson)
  const plan = JSON.parse(dryJson.stdout.toString()) as {
    dryRun: boolean
    complete: boolean
    phases: {
      phase: string
      generation: number | null
      files: { name: string; path: string; mode: string }[]
      changes: { changed: { name: string; aspects: string[] }[] }
      restartUnits: string[]
      restarted: string[]
    }[]
    failures: { name: string; kept: boolean }[]
  }
  assert.equal(plan.dryRun, true)
  assert.equal(plan.complete, false)
  assert.deepEqual(
    plan.failures.map((f) => [f.name, f.kept]),
    [
      ["broken", false],
      ["undecryptable", false],
      ["ghost", false],
      ["flaky", true],
    ],
  )
  const regular = plan.phases.find((p) => p.phase === "regular")
  assert.ok(regular !== undefined)
  assert.equal(regular.generation, null)
  assert.deepEqual(regular.changes.changed.find((c) => c.name === "db/password")?.aspects, [
    "content",
  ])
  assert.deepEqual(regular.restartUnits, ["app.service", "db.service"])
  assert.deepEqual(regular.restarted, [])
  assert.equal(regular.files.find((f) => f.name === "native")?.mode, "0440")
  assert.match(dryJson.stderr, /would modify secret\(s\): db\/password/)
  assert.equal(readlinkSync(ns.inside(link)), `${mount}/2`)
  assert.deepEqual(readdirSync(ns.inside(mount)), [".coffer-links.json", "2"])
  assert.equal(read("db/password", 2), "pw-two")
  assert.equal(
    readFileSync(join(root, "systemctl.log"), "utf8").split("\n").length,
    2,
    "no new systemctl call",
  )

  // --- check modes (sops-install-secrets's single-dash spelling)
  const checkManifest = await ns.node(
    [binPath(), "install", "-check-mode=manifest", manifestPath],
    env,
  )
  assert.equal(checkManifest.status, 0, checkManifest.stderr)
  const checkFiles = await ns.node(
    [binPath(), "install", "-check-mode=sopsfile", manifestPath],
    env,
  )
  assert.equal(checkFiles.status, 1)
  assert.match(checkFiles.stderr, /secret "broken": the key "nope\/missing" cannot be found/)
})

test("a hostile name is refused before anything is written, and nothing escapes", async (t) => {
  if (!requireInstallTools(t)) return
  const root = tmpTree(t, {})
  const ns = await privateNamespace(t)
  const key = hostKey(root)
  const a = join(root, "a.yaml")
  await sopsFile(a, "yaml", "ok: fine\nescape: evil-value\n", key.ageRecipient)
  const secret = (name: string): Record<string, unknown> => ({
    name,
    key: name.split("/").pop(),
    sopsFile: a,
    format: "yaml",
    mode: "0400",
    path: `${root}/run/secrets/${name}`,
  })
  for (const hostile of ["../../escape", "/tmp/escape", "a/../../escape"]) {
    writeFileSync(
      join(root, "manifest.json"),
      JSON.stringify({
        secrets: [secret("ok"), secret(hostile)],
        secretsMountPoint: `${root}/run/secrets.d`,
        symlinkPath: `${root}/run/secrets`,
        ageSshKeyPaths: [key.path],
      }),
    )
    const r = await ns.node([binPath(), "install", join(root, "manifest.json")])
    assert.equal(r.status, 1, r.stderr)
    assert.match(r.stderr, /must stay inside the generation directory/)
    assert.ok(!existsSync(ns.inside(`${root}/run`)), "nothing was mounted or written")
    assert.ok(
      !existsSync(join(root, "escape")) &&
        !existsSync("/tmp/escape") &&
        !existsSync(join(root, "..", "escape")),
    )
    assert.ok(!r.stderr.includes("evil-value"))
  }
})

test("neededForUsers secrets get their own root-only phase; tmpfs with noswap; a disk mount point is refused", async (t) => {
  if (!requireInstallTools(t)) return
  const root = tmpTree(t, {})
  const ns = await privateNamespace(t)
  const acct = createAccounts(t)
  const key = hostKey(root)
  const a = join(root, "a.yaml")
  await sopsFile(a, "yaml", "hash: $6$users-hash\napp: app-value\n", key.ageRecipient)
  const manifestPath = join(root, "manifest.json")
  writeFileSync(
    manifestPath,
    JSON.stringify({
      secrets: [
        {
          name: "hash",
          key: "hash",
          sopsFile: a,
          mode: "0400",
          neededForUsers: true,
          path: `${root}/run/secrets-for-users/hash`,
        },
        {
          name: "app",
          key: "app",
          sopsFile: a,
          mode: "0400",
          owner: acct.user,
          path: `${root}/run/secrets/app`,
        },
      ],
      secretsMountPoint: `${root}/run/secrets.d`,
      symlinkPath: `${root}/run/secrets`,
      usersSecretsMountPoint: `${root}/run/secrets-for-users.d`,
      usersSymlinkPath: `${root}/run/secrets-for-users`,
      useTmpfs: true,
      ageSshKeyPaths: [key.path],
    }),
  )
  const users = await ns.node([
    binPath(),
    "install",
    "--phase",
    "users",
    "--ignore-passwd",
    manifestPath,
  ])
  assert.equal(users.status, 0, users.stderr)
  assert.equal(
    readlinkSync(ns.inside(`${root}/run/secrets-for-users`)),
    `${root}/run/secrets-for-users.d/1`,
  )
  const hash = lstatSync(ns.inside(`${root}/run/secrets-for-users.d/1/hash`))
  assert.deepEqual([hash.uid, hash.gid, hash.mode & 0o777], [0, 0, 0o400])
  assert.ok(!existsSync(ns.inside(`${root}/run/secrets`)), "the regular phase did not run")
  const regular = await ns.node([binPath(), "install", "--phase", "regular", manifestPath])
  assert.equal(regular.status, 0, regular.stderr)
  assert.deepEqual(filesUnder(ns.inside(`${root}/run/secrets.d/1`)), ["app"])
  assert.equal(lstatSync(ns.inside(`${root}/run/secrets.d/1/app`)).uid, acct.uid)
  const mountinfo = readFileSync(`/proc/${String(ns.pid)}/mountinfo`, "utf8").split("\n")
  for (const point of [`${root}/run/secrets.d`, `${root}/run/secrets-for-users.d`]) {
    const line = mountinfo.find((l) => l.split(" ")[4] === point)
    assert.ok(line, point)
    assert.match(line, / - tmpfs /)
    assert.match(line, /noswap/)
  }

  // user mode mounts nothing: a mount point on disk is refused unless allowed
  const userManifest = join(root, "user.json")
  writeFileSync(
    userManifest,
    JSON.stringify({
      secrets: [
        { name: "app", key: "app", sopsFile: a, mode: "0400", path: `${root}/home/secrets/app` },
      ],
      secretsMountPoint: `${root}/home/secrets.d`,
      symlinkPath: `${root}/home/secrets`,
      userMode: true,
      ageSshKeyPaths: [key.path],
    }),
  )
  const noRuntime = await ns.node([binPath(), "install", userManifest], { XDG_RUNTIME_DIR: "" })
  assert.equal(noRuntime.status, 2, noRuntime.stderr)
  assert.match(
    noRuntime.stderr,
    /is in userMode, and XDG_RUNTIME_DIR is not set: %r in its paths stands for that directory/,
  )
  assert.ok(!existsSync(`${root}/home/secrets`))
  const env = { XDG_RUNTIME_DIR: `${root}/home` }
  const refused = await ns.node([binPath(), "install", userManifest], env)
  assert.equal(refused.status, 1)
  assert.match(refused.stderr, /keeps plaintext on disk/)
  assert.ok(!existsSync(`${root}/home/secrets`))
  const allowed = await ns.node([binPath(), "install", "--allow-persistent", userManifest], env)
  assert.equal(allowed.status, 0, allowed.stderr)
  assert.equal(readFileSync(`${root}/home/secrets/app`, "utf8"), "app-value")
})
