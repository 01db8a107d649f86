// Tests of manifest parsing and static validation (docs/host/sops-nix-manifest.md "The
// manifest", docs/manifest.md).
import { test } from "node:test"
import assert from "node:assert/strict"
import { readFileSync } from "node:fs"
import {
  expandRuntimeDir,
  isValidUnitName,
  manifestPhases,
  parseManifest,
  restartUnitsOf,
  validateManifest,
  type Manifest,
} from "./manifest.js"
import { ManifestError, type ManifestProblem } from "./errors.js"
import { placeholderFor } from "./template.js"

const vectors = new URL("../../../test/vectors/host/", import.meta.url)

function vector(name: string): string {
  return readFileSync(new URL(name, vectors), "utf8")
}

const base = { ageKeyFile: "/var/lib/coffer/key.txt" } as const

/** Validates `value` and returns its problems (fails if it validates). */
function problemsOf(value: unknown): readonly ManifestProblem[] {
  try {
    validateManifest(value, "test.json")
  } catch (err) {
    assert.ok(err instanceof ManifestError, String(err))
    return err.problems
  }
  assert.fail("the manifest validated")
}

function oneSecret(fields: Record<string, unknown>): unknown {
  return { ...base, secrets: [{ name: "s", sopsFile: "/etc/s.yaml", ...fields }] }
}

function assertProblem(value: unknown, subject: string, field: string, pattern: RegExp): void {
  const problems = problemsOf(value)
  assert.ok(
    problems.some((p) => p.subject === subject && p.field === field && pattern.test(p.message)),
    `expected ${subject} ${field} ${pattern}, got ${JSON.stringify(problems)}`,
  )
}

test("a realistic sops-nix manifest parses with every field", () => {
  const m = parseManifest(vector("sops-nix-manifest.json"), "manifest.json")
  assert.equal(m.secretsMountPoint, "/run/secrets.d")
  assert.equal(m.symlinkPath, "/run/secrets")
  assert.equal(m.keepGenerations, 1)
  assert.equal(m.ageKeyFile, "/var/lib/sops-nix/key.txt")
  assert.deepEqual(m.ageSshKeyPaths, ["/etc/ssh/ssh_host_ed25519_key"])
  assert.equal(m.gnupgHome, null)
  assert.deepEqual(m.sshKeyPaths, [])
  assert.equal(m.useTmpfs, false)
  assert.equal(m.userMode, false)
  assert.deepEqual(m.logging, { keyImport: true, secretChanges: true })
  assert.deepEqual(
    m.secrets.map((s) => s.name),
    ["db/password", "smtp-token", "wireguard-key", "api-env"],
  )

  const db = m.secrets[0]
  assert.ok(db)
  assert.equal(db.kind, "secret")
  assert.equal(db.key, "db/password")
  assert.equal(db.mode, 0o440)
  assert.equal(db.owner, "postgres")
  assert.equal(db.group, "postgres")
  assert.equal(db.path, "/run/secrets/db/password")
  assert.equal(db.defaultPath, "/run/secrets/db/password")
  assert.deepEqual(db.restartUnits, ["postgresql.service"])
  assert.equal(db.neededForUsers, false)
  assert.equal(db.credential, null)

  const smtp = m.secrets[1]
  assert.ok(smtp)
  assert.equal(smtp.key, "smtp/token")
  assert.equal(smtp.path, "/etc/postfix/smtp-token")
  assert.equal(smtp.defaultPath, "/run/secrets/smtp-token")
  assert.deepEqual(smtp.reloadUnits, ["nginx.service"])

  const wg = m.secrets[2]
  assert.ok(wg)
  assert.equal(wg.format, "binary")
  assert.equal(wg.key, "")

  const api = m.secrets[3]
  assert.ok(api)
  assert.equal(api.format, "dotenv")
  assert.equal(api.uid, 998)
  assert.equal(api.gid, 998)
  assert.equal(api.owner, null)

  assert.equal(m.templates.length, 1)
  const t = m.templates[0]
  assert.ok(t)
  assert.equal(t.kind, "template")
  assert.equal(t.name, "app.conf")
  assert.equal(t.defaultPath, "/run/secrets/rendered/app.conf")
  assert.ok(t.content.includes(placeholderFor("db/password")))
  assert.equal(t.owner, "app")
  assert.deepEqual(t.restartUnits, ["app.service"])
  assert.equal(m.placeholderBySecretName.get("smtp-token"), placeholderFor("smtp-token"))
  // Every secret of the users manifest has a placeholder too
  // (docs/host/sops-nix-manifest.md "Secrets for users").
  assert.ok(m.placeholderBySecretName.has("alice-password"))
})

test("the sops-nix users manifest is a users phase as it is", () => {
  const m = parseManifest(vector("sops-nix-users-manifest.json"), "manifest-for-users.json")
  const phases = manifestPhases(m)
  assert.equal(phases.regular, null)
  assert.equal(phases.users, m)
  const s = m.secrets[0]
  assert.ok(s)
  assert.equal(s.neededForUsers, true)
  assert.equal(s.defaultPath, "/run/secrets-for-users/alice-password")
})

test("coffer's additions: age files, credentials, a users phase in the same manifest", () => {
  const m = parseManifest(vector("coffer-manifest.json"), "coffer.json")
  assert.equal(m.keepGenerations, 3)
  assert.equal(m.useTmpfs, true)
  assert.equal(m.secretsMountPoint, "/run/secrets.d")
  const ts = m.secrets[0]
  assert.ok(ts)
  assert.equal(ts.format, "age")
  assert.equal(ts.key, "")
  assert.equal(ts.mode, 0o400)
  assert.deepEqual(ts.credential, {
    name: "tailscale-authkey",
    units: ["tailscaled-autoconnect.service"],
    environment: "TS_AUTHKEY_FILE",
  })
  assert.deepEqual(restartUnitsOf(ts), ["tailscaled-autoconnect.service"])
  const grafana = m.secrets[3]
  assert.ok(grafana)
  assert.equal(grafana.key, "grafana/admin_password")
  assert.equal(grafana.credential?.name, "grafana_admin")
  // The key defaults to the name, as the Nix module does.
  assert.equal(m.secrets[1]?.key, "db/password")

  const root = m.secrets[2]
  assert.ok(root)
  assert.equal(root.defaultPath, "/run/secrets-for-users/root-password")
  const phases = manifestPhases(m)
  assert.deepEqual(
    phases.regular?.secrets.map((s) => s.name),
    ["tailscale-authkey", "db/password", "grafana/admin"],
  )
  const users = phases.users
  assert.ok(users)
  assert.deepEqual(
    users.secrets.map((s) => s.name),
    ["root-password"],
  )
  assert.equal(users.symlinkPath, "/run/secrets-for-users")
  assert.equal(users.secretsMountPoint, "/run/secrets-for-users.d")
})

test("defaults: an almost empty manifest", () => {
  const m = validateManifest(
    { ...base, secrets: [{ name: "x", sopsFile: "/s.yaml", format: "" }] },
    "t",
  )
  const s = m.secrets[0]
  assert.ok(s)
  assert.equal(s.format, "yaml")
  assert.equal(s.mode, 0o400)
  assert.equal(s.key, "x")
  assert.equal(s.uid, 0)
  assert.equal(s.path, "/run/secrets/x")
  assert.deepEqual(m.logging, { keyImport: true, secretChanges: true })
  assert.equal(m.templates.length, 0)
  assert.equal(manifestPhases(m).users, null)
})

test("null uid and gid count as 0 (the Nix side may write null)", () => {
  const m = validateManifest(oneSecret({ uid: null, gid: null, owner: "nginx" }), "t")
  assert.equal(m.secrets[0]?.uid, 0)
})

test("unknown fields are warnings, not errors", () => {
  const warnings: string[] = []
  validateManifest(
    { ...base, extra: 1, secrets: [{ name: "s", sopsFile: "/s", restartUnit: [] }] },
    "t",
    { warn: (m) => warnings.push(m) },
  )
  assert.deepEqual(warnings, [
    'manifest: unknown field "extra" ignored',
    'secret "s": unknown field "restartUnit" ignored',
  ])
})

test("hostile and malformed names are refused", () => {
  for (const [name, why] of [
    ["../etc/shadow", /"\.\."/],
    ["a/../../b", /"\.\."/],
    ["/etc/passwd", /absolute/],
    ["a//b", /empty segment/],
    ["a/", /empty segment/],
    ["", /empty/],
    ["./a", /"\."/],
    ["a\nb", /line break/],
  ] as const) {
    assertProblem(oneSecret({ name }), `secret ${JSON.stringify(name)}`, "name", why)
  }
  assertProblem({ ...base, secrets: [{ sopsFile: "/s" }] }, "secrets[0]", "name", /missing/)
  assertProblem(
    { ...base, secrets: [{ name: 3, sopsFile: "/s" }] },
    "secrets[0]",
    "name",
    /not a string/,
  )
  assertProblem(
    { ...base, templates: [{ name: "../x", content: "x" }] },
    'template "../x"',
    "name",
    /"\.\."/,
  )
})

test("modes must be octal, no special bits, never world-readable", () => {
  assertProblem(oneSecret({ mode: "0999" }), 'secret "s"', "mode", /not an octal mode/)
  assertProblem(oneSecret({ mode: "rw" }), 'secret "s"', "mode", /not an octal mode/)
  assertProblem(oneSecret({ mode: 256 }), 'secret "s"', "mode", /not a string/)
  assertProblem(oneSecret({ mode: "4755" }), 'secret "s"', "mode", /setuid/)
  assertProblem(oneSecret({ mode: "0444" }), 'secret "s"', "mode", /every user/)
  assertProblem(oneSecret({ mode: "0402" }), 'secret "s"', "mode", /every user/)
  assert.equal(validateManifest(oneSecret({ mode: "440" }), "t").secrets[0]?.mode, 0o440)
  assert.equal(validateManifest(oneSecret({ mode: "0751" }), "t").secrets[0]?.mode, 0o751)
})

test("formats, source files and keys", () => {
  assertProblem(oneSecret({ format: "toml" }), 'secret "s"', "format", /unknown/)
  assertProblem({ ...base, secrets: [{ name: "s" }] }, 'secret "s"', "sopsFile", /missing/)
  assertProblem(oneSecret({ sopsFile: "" }), 'secret "s"', "sopsFile", /missing/)
  assertProblem(oneSecret({ sopsFile: "secrets.yaml" }), 'secret "s"', "sopsFile", /absolute/)
  assertProblem(
    {
      ...base,
      secrets: [
        { name: "a", sopsFile: "/f", format: "yaml" },
        { name: "b", sopsFile: "/f", format: "json" },
      ],
    },
    'secret "b"',
    "format",
    /differs from "yaml" of secret "a"/,
  )
  assertProblem(
    { secrets: [{ name: "a", sopsFile: "/f" }] },
    "manifest",
    "ageKeyFile",
    /no key source/,
  )
  assertProblem(
    { ...base, gnupgHome: "/root/.gnupg", secrets: [] },
    "manifest",
    "gnupgHome",
    /cannot be combined/,
  )
})

test("owners, ids and neededForUsers", () => {
  assertProblem(oneSecret({ owner: "nginx", uid: 5 }), 'secret "s"', "owner", /both set/)
  assertProblem(oneSecret({ group: "nginx", gid: 5 }), 'secret "s"', "group", /both set/)
  assertProblem(oneSecret({ uid: -1 }), 'secret "s"', "uid", /not a user or group id/)
  assertProblem(oneSecret({ uid: 1.5 }), 'secret "s"', "uid", /not a user or group id/)
  assertProblem(oneSecret({ owner: "" }), 'secret "s"', "owner", /empty string/)
  assertProblem(
    oneSecret({ neededForUsers: true, owner: "alice" }),
    'secret "s"',
    "owner",
    /owned by root/,
  )
  assertProblem(
    oneSecret({ neededForUsers: "yes" }),
    'secret "s"',
    "neededForUsers",
    /true or false/,
  )
})

test("duplicate names and paths, file/directory clashes", () => {
  assertProblem(
    {
      ...base,
      secrets: [
        { name: "a", sopsFile: "/f" },
        { name: "a", sopsFile: "/f" },
      ],
    },
    'secret "a"',
    "name",
    /collides with secret "a"/,
  )
  assertProblem(
    {
      ...base,
      secrets: [
        { name: "a", sopsFile: "/f" },
        { name: "a/b", sopsFile: "/f" },
      ],
    },
    'secret "a/b"',
    "name",
    /a file and a directory/,
  )
  assertProblem(
    {
      ...base,
      secrets: [
        { name: "a", sopsFile: "/f", path: "/etc/x" },
        { name: "b", sopsFile: "/f", path: "/etc/x" },
      ],
    },
    'secret "b"',
    "path",
    /also the path of secret "a"/,
  )
  assertProblem(
    {
      ...base,
      secrets: [{ name: "rendered/t", sopsFile: "/f" }],
      templates: [{ name: "t", content: "x" }],
      placeholderBySecretName: { "rendered/t": placeholderFor("rendered/t") },
    },
    'template "t"',
    "name",
    /collides with secret "rendered\/t"/,
  )
  // The same name in the two phases is two different files.
  validateManifest(
    {
      ...base,
      secrets: [
        { name: "a", sopsFile: "/f" },
        { name: "a", sopsFile: "/f", neededForUsers: true },
      ],
    },
    "t",
  )
})

test("custom paths must be absolute and outside the managed directories", () => {
  assertProblem(oneSecret({ path: "relative/x" }), 'secret "s"', "path", /not an absolute path/)
  assertProblem(oneSecret({ path: "/etc/../x" }), 'secret "s"', "path", /"\.\."/)
  assertProblem(oneSecret({ path: "/run/secrets/other" }), 'secret "s"', "path", /coffer manages/)
  assertProblem(oneSecret({ path: "/run/secrets.d/1/s" }), 'secret "s"', "path", /coffer manages/)
  assertProblem(
    { ...base, symlinkPath: "/run/secrets.d/current" },
    "manifest",
    "symlinkPath",
    /overlap/,
  )
  assertProblem(
    { ...base, secretsMountPoint: "run/x" },
    "manifest",
    "secretsMountPoint",
    /absolute/,
  )
})

test("paths are compared in one spelling: // and /./ and a trailing / change nothing", () => {
  for (const path of ["/run//secrets/other", "/run/./secrets/other", "//run/secrets.d/1/s"]) {
    assertProblem(oneSecret({ path }), 'secret "s"', "path", /coffer manages/)
  }
  assertProblem(
    { ...base, symlinkPath: "/run/secrets.d//current/" },
    "manifest",
    "symlinkPath",
    /overlap/,
  )
  const m = validateManifest(
    {
      ...base,
      secretsMountPoint: "/run//secrets.d/",
      ageSshKeyPaths: ["/etc/ssh/./ssh_host_ed25519_key"],
      secrets: [
        { name: "a", sopsFile: "/etc//s.yaml", path: "/run/secrets//a" },
        { name: "b", sopsFile: "/etc/s.yaml", path: "/etc/app//b/" },
      ],
      templates: [{ name: "t", file: "/etc/./t.in" }],
      placeholderBySecretName: { a: placeholderFor("a"), b: placeholderFor("b") },
    },
    "test.json",
  )
  assert.equal(m.secretsMountPoint, "/run/secrets.d")
  assert.deepEqual(m.ageSshKeyPaths, ["/etc/ssh/ssh_host_ed25519_key"])
  assert.deepEqual(
    m.secrets.map((s) => [s.sopsFile, s.path, s.defaultPath]),
    [
      ["/etc/s.yaml", "/run/secrets/a", "/run/secrets/a"],
      ["/etc/s.yaml", "/etc/app/b", "/run/secrets/b"],
    ],
  )
  assert.equal(m.templates[0]?.file, "/etc/t.in")
  // two spellings of one path are one claim
  assertProblem(
    {
      ...base,
      secrets: [
        { name: "a", sopsFile: "/etc/s.yaml", path: "/etc/app/x" },
        { name: "b", sopsFile: "/etc/s.yaml", path: "/etc//app/x" },
      ],
    },
    'secret "b"',
    "path",
    /.*/,
  )
})

test("restart and reload units must be unit names", () => {
  assertProblem(
    oneSecret({ restartUnits: ["nginx"] }),
    'secret "s"',
    "restartUnits",
    /not a systemd unit name/,
  )
  assertProblem(
    oneSecret({ reloadUnits: ["a b.service"] }),
    'secret "s"',
    "reloadUnits",
    /not a systemd unit name/,
  )
  assertProblem(
    oneSecret({ restartUnits: "nginx.service" }),
    'secret "s"',
    "restartUnits",
    /not a list of strings/,
  )
  assert.ok(isValidUnitName("getty@tty1.service"))
  assert.ok(isValidUnitName("run-secrets.d.mount"))
  assert.ok(!isValidUnitName(".service"))
  assert.ok(!isValidUnitName("x.servic"))
})

test("credentials: IDs, units, environment, collisions", () => {
  assertProblem(
    oneSecret({ credential: { units: ["a.service"], name: "a/b" } }),
    'secret "s"',
    "credential.name",
    /not a valid credential ID/,
  )
  assertProblem(
    oneSecret({ credential: { units: ["a.service"], name: "a:b" } }),
    'secret "s"',
    "credential.name",
    /not a valid credential ID/,
  )
  assertProblem(oneSecret({ credential: { units: [] } }), 'secret "s"', "credential.units", /empty/)
  assertProblem(
    oneSecret({ credential: { units: ["a.socket"] } }),
    'secret "s"',
    "credential.units",
    /not a \.service unit/,
  )
  assertProblem(
    oneSecret({ credential: { units: ["a.service"], environment: "1X" } }),
    'secret "s"',
    "credential.environment",
    /not an environment variable name/,
  )
  assertProblem(oneSecret({ credential: "a.service" }), 'secret "s"', "credential", /not an object/)
  assertProblem(
    {
      ...base,
      secrets: [
        { name: "a/b", sopsFile: "/f", credential: { units: ["x.service"] } },
        { name: "a_b", sopsFile: "/f", credential: { units: ["x.service"] } },
      ],
    },
    'secret "a_b"',
    "credential.name",
    /also loaded from secret "a\/b"/,
  )
})

test("templates: content or file, placeholders of known secrets only", () => {
  assertProblem(
    { ...base, templates: [{ name: "t", content: "", file: null }] },
    'template "t"',
    "content",
    /neither content nor file/,
  )
  const stray = placeholderFor("nope")
  assertProblem(
    {
      ...base,
      secrets: [{ name: "a", sopsFile: "/f" }],
      templates: [{ name: "t", content: `x=${stray}` }],
      placeholderBySecretName: { a: placeholderFor("a") },
    },
    'template "t"',
    "content",
    /belongs to no secret/,
  )
  // A placeholder of a secret in the users manifest (docs/host/sops-nix-manifest.md
  // "Secrets for users").
  assertProblem(
    {
      ...base,
      secrets: [{ name: "a", sopsFile: "/f" }],
      templates: [{ name: "t", content: `x=${placeholderFor("pw")}` }],
      placeholderBySecretName: { a: placeholderFor("a"), pw: placeholderFor("pw") },
    },
    'template "t"',
    "content",
    /secret "pw", which this manifest does not install/,
  )
  assertProblem(
    {
      ...base,
      secrets: [{ name: "a", sopsFile: "/f" }],
      templates: [{ name: "t", content: "x" }],
    },
    'secret "a"',
    "",
    /no entry in placeholderBySecretName/,
  )
  assertProblem(
    { ...base, placeholderBySecretName: { a: "<P>", b: "<P>" } },
    "manifest",
    "placeholderBySecretName",
    /share a placeholder/,
  )
  // A template read from a file is fine without content.
  const m = validateManifest(
    { ...base, templates: [{ name: "t", content: "", file: "/nix/store/x-t" }] },
    "t",
  )
  assert.equal(m.templates[0]?.file, "/nix/store/x-t")
})

test("every problem is collected and the message names each by subject", () => {
  let caught: unknown
  try {
    parseManifest(
      JSON.stringify({
        ...base,
        secrets: [
          { name: "../x", sopsFile: "/f" },
          { name: "db/password", mode: "999" },
        ],
      }),
      "/etc/m.json",
    )
  } catch (err) {
    caught = err
  }
  assert.ok(caught instanceof ManifestError)
  assert.equal(caught.problems.length, 3)
  assert.match(caught.message, /^manifest "\/etc\/m\.json" has 3 problems: /)
  assert.match(caught.message, /secret "db\/password": mode "999" is not an octal mode/)
  assert.match(caught.message, /secret "db\/password": sopsFile is missing/)
  assert.ok(!caught.message.includes("\n"))
  assert.ok(caught.hints.length > 0)
})

test("not JSON, or not an object", () => {
  assert.throws(
    () => parseManifest("{", "m.json"),
    (err: unknown) => {
      assert.ok(err instanceof ManifestError)
      assert.match(err.message, /^manifest "m\.json" is not valid JSON/)
      return true
    },
  )
  assertProblem([], "manifest", "", /not a JSON object/)
  assertProblem({ ...base, secrets: {} }, "manifest", "secrets", /not a list/)
  assertProblem({ ...base, keepGenerations: -1 }, "manifest", "keepGenerations", /not a count/)
  assertProblem({ ...base, logging: [] }, "manifest", "logging", /not an object/)
})

test("user mode: %r paths are accepted and expanded", () => {
  const m: Manifest = validateManifest(
    {
      ...base,
      userMode: true,
      secretsMountPoint: "%r/secrets.d",
      symlinkPath: "/home/u/.config/sops-nix/secrets",
      secrets: [{ name: "s", sopsFile: "/f", path: "%r/100%%/s" }],
    },
    "t",
  )
  const expanded = expandRuntimeDir(m, "/run/user/1000")
  assert.equal(expanded.secretsMountPoint, "/run/user/1000/secrets.d")
  assert.equal(expanded.secrets[0]?.path, "/run/user/1000/100%/s")
  assertProblem(
    { ...base, secretsMountPoint: "%r/secrets.d" },
    "manifest",
    "secretsMountPoint",
    /absolute/,
  )
})
