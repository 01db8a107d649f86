/**
 * `coffer install` against a hostile host and hostile manifests (issue 18 items 2-4, and
 * the install side of item 1), as root on a real ramfs in a private mount namespace, with
 * a real unprivileged user who owns a directory on a secret's path:
 *
 * - a symlink in a parent directory of a custom `path` is not followed into a directory of
 *   someone else (systemd-tmpfiles' "unsafe transition"), while a root-owned one still is;
 * - paths are normalised before every comparison (`/run//secrets/x` is `/run/secrets/x`);
 * - install replaces only links it made: never a directory, a regular file or a foreign
 *   link, at `symlinkPath` or at a custom `path`; a template file the template's owner could
 *   not read is not copied out to them; a symlinked `secretsMountPoint` is refused;
 * - one hostile source file (a YAML alias bomb) fails like any other failing secret, within
 *   the per-source limits, while the others install.
 *
 * Every refusal is checked for its one-line message naming the path, a non-zero exit, and
 * nothing already there being lost.
 */
import { test } from "node:test"
import type { TestContext } from "node:test"
import assert from "node:assert/strict"
import {
  chmodSync,
  chownSync,
  existsSync,
  lchownSync,
  lstatSync,
  mkdirSync,
  readFileSync,
  readdirSync,
  readlinkSync,
  symlinkSync,
  writeFileSync,
} from "node:fs"
import { spawnSync } from "node:child_process"
import { join } from "node:path"
import { placeholderFor } from "../../src/host/template.js"
import { encryptFile } from "../../src/sops/index.js"
import { binPath } from "../support/cli.js"
import type { RunResult } from "../support/cli.js"
import { tmpTree } from "../support/tmp.js"
import { privateNamespace } from "../support/namespace.js"
import type { Namespace } from "../support/namespace.js"
import type { Accounts, HostKey } from "./fixtures.js"
import {
  createAccounts,
  filesUnder,
  hostKey,
  requireInstallTools,
  secretEntry,
  sopsFile,
} from "./fixtures.js"

interface Host {
  readonly root: string
  readonly ns: Namespace
  readonly key: HostKey
  readonly acct: Accounts
  /** A sops file with `good1`, `good2`, `good3`, `other`. */
  readonly source: string
  readonly mount: string
  readonly link: string
  /** Writes the manifest and runs `coffer install` on it in the namespace. */
  install(
    manifest: Record<string, unknown>,
    args?: readonly string[],
    env?: Readonly<Record<string, string>>,
  ): Promise<RunResult>
  /** A secret of `source` with defaults. */
  secret(name: string, extra?: Readonly<Record<string, unknown>>): Record<string, unknown>
  /** What the live generation holds for `name` (through the stable link). */
  live(name: string): string
}

async function host(t: TestContext): Promise<Host> {
  const root = tmpTree(t, {})
  chmodSync(root, 0o755)
  const ns = await privateNamespace(t)
  const key = hostKey(root)
  const acct = createAccounts(t)
  const source = join(root, "s.yaml")
  await sopsFile(
    source,
    "yaml",
    "good1: value-one\ngood2: value-two\ngood3: value-three\nother: value-other\n",
    key.ageRecipient,
  )
  const mount = `${root}/run/secrets.d`
  const link = `${root}/run/secrets`
  const manifestPath = join(root, "manifest.json")
  return {
    root,
    ns,
    key,
    acct,
    source,
    mount,
    link,
    secret: (name, extra = {}) => secretEntry(name, source, link, extra),
    install: async (manifest, args = [], env = {}) => {
      writeFileSync(
        manifestPath,
        JSON.stringify({
          secretsMountPoint: mount,
          symlinkPath: link,
          ageSshKeyPaths: [key.path],
          ...manifest,
        }),
      )
      const r = await ns.node([binPath(), "install", ...args, manifestPath], env)
      for (const value of ["value-one", "value-two", "value-three", "value-other"]) {
        assert.ok(!r.stderr.includes(value), `${value} is not in the output`)
      }
      return r
    },
    // the stable link points at the generation on the namespace's ramfs: follow it there
    live: (name) => readFileSync(ns.inside(`${readlinkSync(ns.inside(link))}/${name}`), "utf8"),
  }
}

/** The error lines of a run (`error: …`, `warning: …`), for one-line checks. */
function lines(r: RunResult): string[] {
  return r.stderr.split("\n").filter((l) => l !== "")
}

test("a symlink its owner made in a parent directory of a custom path is not followed into root's directory; a root-owned one is", async (t) => {
  if (!requireInstallTools(t)) return
  const h = await host(t)
  // root's directory, with a file the attacker wants replaced, and one it wants created
  const victim = join(h.root, "victim")
  mkdirSync(victim)
  writeFileSync(join(victim, "victimfile"), "precious\n", { mode: 0o600 })
  // the service user owns a directory on the secret's path, and points cfg at root's
  const userdir = join(h.root, "userdir")
  mkdirSync(userdir)
  chownSync(userdir, h.acct.uid, h.acct.gid)
  symlinkSync(victim, join(userdir, "cfg"))
  lchownSync(join(userdir, "cfg"), h.acct.uid, h.acct.gid)
  // a root-owned alias (as /var/run -> /run): following it is safe
  const real = join(h.root, "real")
  mkdirSync(real)
  symlinkSync(real, join(h.root, "alias"))

  const r = await h.install({
    secrets: [
      h.secret("good1"),
      h.secret("good2", { path: `${userdir}/cfg/victimfile`, owner: h.acct.user }),
      h.secret("good3", { path: `${userdir}/cfg/newfile`, owner: h.acct.user }),
      h.secret("other", { path: `${h.root}/alias/other` }),
    ],
  })
  assert.equal(r.status, 1, r.stderr)
  assert.equal(readFileSync(join(victim, "victimfile"), "utf8"), "precious\n")
  assert.ok(lstatSync(join(victim, "victimfile")).isFile(), "root's file is still a file")
  assert.deepEqual(readdirSync(victim), ["victimfile"], "nothing was created in root's directory")
  for (const name of ["good2", "good3"]) {
    const line = lines(r).find((l) => l.includes(`secret "${name}": its link`))
    assert.ok(line, `${name} is named: ${r.stderr}`)
    assert.ok(
      line.includes(`"${userdir}/cfg"`) && /symlink/.test(line),
      `the component is named: ${line}`,
    )
  }
  // the secrets themselves are installed; only their links were refused
  assert.equal(h.live("good1"), "value-one")
  assert.equal(h.live("good2"), "value-two")
  assert.equal(readlinkSync(join(real, "other")), `${h.link}/other`)
})

test("paths are normalised before the containment checks: a custom path spelled with // or /./ cannot land inside the secrets directory", async (t) => {
  if (!requireInstallTools(t)) return
  const h = await host(t)
  const spellings = [
    `${h.root}/run//secrets/good1`,
    `${h.root}/run/./secrets/good1`,
    `${h.root}/run/secrets//good1`,
    `${h.root}//run/secrets.d/1/good1`,
  ]
  for (const path of spellings) {
    const r = await h.install({
      secrets: [h.secret("good1"), h.secret("other", { path })],
    })
    assert.equal(r.status, 1, `${path}: ${r.stderr}`)
    assert.match(r.stderr, /secret "other": path .* is inside .*, which coffer manages/, path)
    assert.ok(!existsSync(h.ns.inside(h.link)), `${path}: nothing was installed`)
  }
  // symlinkPath and secretsMountPoint overlap however they are spelled
  const overlap = await h.install({
    secrets: [h.secret("good1")],
    symlinkPath: `${h.root}/run/secrets.d//current`,
  })
  assert.equal(overlap.status, 1, overlap.stderr)
  assert.match(overlap.stderr, /overlap/)

  // the same file spelled twice is one source, decrypted once; a default path spelled with
  // a trailing or doubled slash is the default path (no link)
  const ok = await h.install({
    secrets: [
      h.secret("good1", { sopsFile: h.source.replace("/s.yaml", "//s.yaml") }),
      h.secret("good2", { path: `${h.root}/run/secrets/good2/`.replace("/good2/", "//good2") }),
    ],
  })
  assert.equal(ok.status, 0, ok.stderr)
  assert.equal(h.live("good1"), "value-one")
  assert.equal(h.live("good2"), "value-two")
  assert.ok(lstatSync(h.ns.inside(`${h.mount}/1/good2`)).isFile(), "good2 is a file, not a link")
})

test("install replaces only links it made: directories, regular files and foreign links are refused by name, and kept", async (t) => {
  if (!requireInstallTools(t)) return
  const h = await host(t)
  const etc = join(h.root, "etc")
  mkdirSync(etc)
  const shadow = join(etc, "shadow")
  writeFileSync(shadow, "root:$6$hash:19000:0:99999:7:::\n", { mode: 0o640 })
  mkdirSync(join(etc, "app.d"))
  writeFileSync(join(etc, "app.d", "keep"), "kept\n")
  symlinkSync("/etc/hostname", join(etc, "foreign"))
  // a link at a custom path as sops-nix (or an earlier coffer) made it: pointing into the
  // stable path. Replacing it loses nothing.
  symlinkSync(`${h.link}/good2`, join(etc, "from-sops-nix"))
  // an unrelated file at the name coffer's temporary link used to have
  writeFileSync(join(etc, "from-sops-nix.coffer-new"), "not coffer's\n")

  const r = await h.install({
    secrets: [
      h.secret("good1", { path: shadow }),
      h.secret("good2", { path: join(etc, "from-sops-nix") }),
      h.secret("good3", { path: join(etc, "app.d") }),
      h.secret("other", { path: join(etc, "foreign") }),
    ],
    templates: [],
  })
  assert.equal(r.status, 1, r.stderr)
  const about = (name: string): string => {
    const line = lines(r).find((l) => l.startsWith("warning:") && l.includes(`secret "${name}"`))
    assert.ok(line, `${name} is named: ${r.stderr}`)
    return line
  }
  assert.match(about("good1"), new RegExp(`"${shadow}" is a regular file coffer did not make`))
  assert.match(about("good3"), new RegExp(`"${join(etc, "app.d")}" is a directory`))
  assert.match(
    about("other"),
    new RegExp(`"${join(etc, "foreign")}" is a symlink to "/etc/hostname"`),
  )
  assert.equal(readFileSync(shadow, "utf8"), "root:$6$hash:19000:0:99999:7:::\n")
  assert.equal(readFileSync(join(etc, "app.d", "keep"), "utf8"), "kept\n")
  assert.equal(readlinkSync(join(etc, "foreign")), "/etc/hostname")
  assert.equal(readlinkSync(join(etc, "from-sops-nix")), `${h.link}/good2`)
  assert.equal(readFileSync(join(etc, "from-sops-nix.coffer-new"), "utf8"), "not coffer's\n")
  // the secrets are installed in the generation; only the links were refused
  for (const name of ["good1", "good2", "good3", "other"]) assert.ok(h.live(name).length > 0)

  // a link coffer made is recorded: it is replaced when its target moves (a new
  // symlinkPath), though it no longer points into the stable path
  const made = join(etc, "made-by-coffer")
  const first = await h.install({ secrets: [h.secret("good1", { path: made })] })
  assert.equal(first.status, 0, first.stderr)
  assert.equal(readlinkSync(made), `${h.link}/good1`)
  const moved = await h.install({
    secrets: [h.secret("good1", { path: made })],
    symlinkPath: `${h.root}/run/secrets-moved`,
  })
  assert.equal(moved.status, 0, moved.stderr)
  assert.equal(readlinkSync(made), `${h.root}/run/secrets-moved/good1`)
  // a foreign link with the same target is still refused: the record names links, not targets
  const lookalike = join(etc, "lookalike")
  symlinkSync(`${h.link}/other-place`, lookalike)
  const refused = await h.install({
    secrets: [h.secret("good1", { path: lookalike })],
    symlinkPath: `${h.root}/run/secrets-moved`,
  })
  assert.equal(refused.status, 1, refused.stderr)
  assert.match(refused.stderr, new RegExp(`"${lookalike}" is a symlink to "${h.link}/other-place"`))
  assert.equal(readlinkSync(lookalike), `${h.link}/other-place`)
})

test("symlinkPath onto a directory or a regular file is refused, and the tree under it kept", async (t) => {
  if (!requireInstallTools(t)) return
  const h = await host(t)
  mkdirSync(join(h.link, "sub"), { recursive: true })
  writeFileSync(join(h.link, "sub", "data"), "precious\n")
  const dir = await h.install({ secrets: [h.secret("good1")] })
  assert.notEqual(dir.status, 0, dir.stderr)
  assert.equal(lines(dir).filter((l) => l.startsWith("error:")).length, 1, dir.stderr)
  assert.match(dir.stderr, new RegExp(`error: symlinkPath "${h.link}" is a directory`))
  assert.equal(readFileSync(join(h.link, "sub", "data"), "utf8"), "precious\n")

  const file = `${h.root}/run/file-link`
  writeFileSync(file, "precious\n")
  const reg = await h.install({ secrets: [h.secret("good1")], symlinkPath: file })
  assert.notEqual(reg.status, 0, reg.stderr)
  assert.match(reg.stderr, new RegExp(`error: symlinkPath "${file}" is a regular file`))
  assert.equal(readFileSync(file, "utf8"), "precious\n")
})

test("a symlinked secretsMountPoint is refused: the ramfs is never mounted over its target", async (t) => {
  if (!requireInstallTools(t)) return
  const h = await host(t)
  const elsewhere = join(h.root, "elsewhere")
  mkdirSync(elsewhere)
  writeFileSync(join(elsewhere, "data"), "precious\n")
  mkdirSync(join(h.root, "run"))
  symlinkSync(elsewhere, h.mount)
  const r = await h.install({ secrets: [h.secret("good1")] })
  assert.notEqual(r.status, 0, r.stderr)
  assert.match(r.stderr, new RegExp(`error: secretsMountPoint "${h.mount}" is a symlink`))
  const mountinfo = readFileSync(`/proc/${String(h.ns.pid)}/mountinfo`, "utf8")
  assert.ok(!mountinfo.includes(elsewhere), "nothing is mounted on the link's target")
  assert.ok(!mountinfo.includes(h.mount), "nothing is mounted at the link")
  assert.deepEqual(readdirSync(elsewhere), ["data"])
})

test("a template file its owner could not read is not copied out to them", async (t) => {
  if (!requireInstallTools(t)) return
  const h = await host(t)
  const shadow = join(h.root, "shadow")
  writeFileSync(shadow, "root:$6$hash:19000:0:99999:7:::\n", { mode: 0o640 })
  const readable = join(h.root, "app.conf.in")
  writeFileSync(readable, `password=${placeholderFor("good1")}\n`, { mode: 0o644 })
  const template = (name: string, file: string): Record<string, unknown> => ({
    name,
    file,
    content: "",
    path: `${h.link}/rendered/${name}`,
    mode: "0400",
    owner: h.acct.user,
  })
  const r = await h.install({
    secrets: [h.secret("good1")],
    templates: [template("stolen", shadow), template("app.conf", readable)],
    placeholderBySecretName: { good1: placeholderFor("good1") },
  })
  assert.equal(r.status, 1, r.stderr)
  assert.match(
    r.stderr,
    new RegExp(`template "stolen".*template file "${shadow}" is not readable by ${h.acct.user}`),
  )
  assert.deepEqual(filesUnder(h.ns.inside(`${h.mount}/1`)), ["good1", "rendered/app.conf"])
  assert.equal(h.live("rendered/app.conf"), "password=value-one\n")
})

test("one alias-bomb source fails like any failing secret (the YAML store refuses it), and the others install", async (t) => {
  if (!requireInstallTools(t)) return
  const h = await host(t)
  // billion laughs, 9 levels of 9, in front of a real sops section
  const bomb = join(h.root, "bomb.yaml")
  const levels = ["lol0: &a0 [x, x, x, x, x, x, x, x, x]"]
  for (let i = 1; i < 9; i++) {
    levels.push(
      `lol${String(i)}: &a${String(i)} [${Array(9)
        .fill(`*a${String(i - 1)}`)
        .join(", ")}]`,
    )
  }
  const real = readFileSync(h.source, "utf8")
  writeFileSync(bomb, `${levels.join("\n")}\n${real.slice(real.indexOf("sops:"))}`)
  const started = Date.now()
  const r = await h.install(
    {
      secrets: [
        h.secret("good1"),
        h.secret("good2"),
        h.secret("good3"),
        h.secret("lol8", { sopsFile: bomb }),
      ],
    },
    ["--source-timeout", "8", "--source-memory", "256"],
  )
  const took = Date.now() - started
  assert.equal(r.status, 1, r.stderr)
  assert.ok(took < 30_000, `the install ended in ${String(took)} ms`)
  assert.match(r.stderr, /secret "lol8"/)
  assert.ok(
    lines(r).some((l) => l.includes(`"${bomb}"`)),
    `the hostile file is named: ${r.stderr}`,
  )
  assert.equal(h.live("good1"), "value-one")
  assert.equal(h.live("good2"), "value-two")
  assert.equal(h.live("good3"), "value-three")
  assert.ok(!existsSync(h.ns.inside(`${h.link}/lol8`)))
})

test("a source too large to open is refused unread, and one that needs more memory than allowed fails alone", async (t) => {
  if (!requireInstallTools(t)) return
  const h = await host(t)
  const real = readFileSync(h.source, "utf8")
  const sops = real.slice(real.indexOf("sops:"))
  const value =
    "ENC[AES256_GCM,data:AAAA,iv:AAAAAAAAAAAAAAAAAAAAAA==,tag:AAAAAAAAAAAAAAAAAAAAAA==,type:str]"
  const keys = (n: number): string =>
    Array.from({ length: n }, (_, i) => `k${String(i).padStart(7, "0")}: ${value}\n`).join("")
  // --source-memory 32: files up to 8 MiB are read; this one (about 10 MiB) is not
  const huge = join(h.root, "huge.yaml")
  writeFileSync(huge, `${keys(100_000)}${sops}`)
  // about 6 MiB: read, but its document needs more than 32 MiB of heap
  const heavy = join(h.root, "heavy.yaml")
  writeFileSync(heavy, `${keys(60_000)}${sops}`)
  const r = await h.install(
    {
      secrets: [
        h.secret("good1"),
        h.secret("k0000001", { sopsFile: huge }),
        h.secret("k0000002", { sopsFile: heavy }),
      ],
    },
    ["--source-memory", "32", "--source-timeout", "60"],
  )
  assert.equal(r.status, 1, r.stderr)
  assert.match(
    r.stderr,
    new RegExp(`"${huge}": it is 1\\d MiB, larger than the 8 MiB a source may be`),
  )
  assert.match(r.stderr, new RegExp(`"${heavy}": opening it needed more than 32 MiB of memory`))
  assert.match(
    r.stderr,
    /error: 2 secrets could not be installed: secret "k0000001", secret "k0000002"/,
  )
  assert.equal(h.live("good1"), "value-one")
})

test("a source whose decryption never ends (gpg does not answer) fails after --source-timeout, and the others install", async (t) => {
  if (!requireInstallTools(t)) return
  const h = await host(t)
  // a PGP key group whose gpg hangs, as one waiting for a smartcard or a pinentry would
  const stuck = join(h.root, "stuck.yaml")
  const armored = "-----BEGIN PGP MESSAGE-----\n\nwcBMA0fake\n=AAAA\n-----END PGP MESSAGE-----"
  writeFileSync(
    stuck,
    await encryptFile("stuck: never\n", "yaml", {
      keyGroups: [{ age: [], pgp: ["0123456789ABCDEF0123456789ABCDEF01234567"] }],
      pgp: {
        encrypt: () => Promise.resolve(armored),
        decrypt: () => Promise.resolve(null),
        failures: [],
      },
    }),
  )
  const gpg = join(h.root, "gpg-hangs")
  const pidFile = join(h.root, "gpg.pid")
  writeFileSync(gpg, `#!/bin/sh\necho $$ > ${pidFile}\nexec sleep 120\n`, { mode: 0o755 })
  t.after(() => {
    // in case coffer did not: never leave the stand-in running
    if (existsSync(pidFile)) spawnSync("kill", ["-9", readFileSync(pidFile, "utf8").trim()])
  })
  const home = join(h.root, "gnupg")
  mkdirSync(home, { mode: 0o700 })
  const started = Date.now()
  const r = await h.install(
    {
      secrets: [h.secret("good1"), h.secret("stuck", { sopsFile: stuck })],
      gnupgHome: home,
    },
    ["--source-timeout", "1"],
    { SOPS_GPG_EXEC: gpg },
  )
  assert.equal(r.status, 1, r.stderr)
  assert.ok(Date.now() - started < 60_000, "the install did not wait for gpg")
  // the hung gpg did not outlive the install
  const pid = readFileSync(pidFile, "utf8").trim()
  assert.match(
    r.stderr,
    new RegExp(`killed sleep \\(PID ${pid}\\), which a source that ran out of time had started`),
  )
  const state = existsSync(`/proc/${pid}`) ? readFileSync(`/proc/${pid}/stat`, "utf8") : ""
  assert.ok(state === "" || state.includes(") Z "), "the hung gpg is gone")
  assert.match(
    r.stderr,
    new RegExp(
      `secret "stuck": "${stuck}" could not be decrypted: opening it took longer than 1 s`,
    ),
  )
  assert.equal(h.live("good1"), "value-one")
})
