/**
 * Unit tests of the generation plan (plan.ts): directories for nested names, custom-path
 * links, templates, failed secrets keeping their previous file, and the change set that
 * picks the units to restart (content, owner and mode).
 */
import { test } from "node:test"
import assert from "node:assert/strict"
import type { PlanInput, PlanSecret, PlanTemplate, PreviousEntry } from "./plan.js"
import { describeChanges, planGeneration, safeMode, unsafeNameReason } from "./plan.js"
import { placeholderFor } from "./template.js"

const bytes = (text: string): Uint8Array => new Uint8Array(Buffer.from(text, "utf8"))
const text = (b: Uint8Array): string => Buffer.from(b).toString("utf8")

function secret(name: string, value: string | null, extra: Partial<PlanSecret> = {}): PlanSecret {
  return {
    name,
    mode: 0o400,
    link: undefined,
    restartUnits: [],
    reloadUnits: [],
    owner: { ok: true, value: { uid: 0, gid: 0 } },
    value:
      value === null
        ? { ok: false, reason: "the key cannot be found" }
        : { ok: true, value: bytes(value) },
    ...extra,
  }
}

function template(name: string, content: string, extra: Partial<PlanTemplate> = {}): PlanTemplate {
  return {
    name,
    mode: 0o400,
    link: undefined,
    restartUnits: [],
    reloadUnits: [],
    owner: { ok: true, value: { uid: 0, gid: 0 } },
    text: { ok: true, value: content },
    ...extra,
  }
}

function input(over: Partial<PlanInput>): PlanInput {
  return {
    secrets: [],
    templates: [],
    placeholderBySecretName: new Map(),
    symlinkPath: "/run/secrets",
    keysGid: 131,
    previous: undefined,
    ...over,
  }
}

function file(content: string, uid = 0, gid = 0, mode = 0o400): PreviousEntry {
  return { kind: "file", content: bytes(content), uid, gid, mode }
}

test("nested names get 0751 root:keys directories, parents first", () => {
  const plan = planGeneration(
    input({ secrets: [secret("a/b/c", "1"), secret("a/d", "2"), secret("top", "3")] }),
  )
  assert.deepEqual(
    plan.directories.map((d) => [d.path, d.uid, d.gid, d.mode]),
    [
      ["a", 0, 131, 0o751],
      ["a/b", 0, 131, 0o751],
    ],
  )
  assert.deepEqual(
    plan.files.map((f) => f.path),
    ["a/b/c", "a/d", "top"],
  )
  assert.equal(plan.failures.length, 0)
})

test("files carry their owner, group and mode; links point at the stable path", () => {
  const plan = planGeneration(
    input({
      secrets: [
        secret("db/password", "pw", {
          owner: { ok: true, value: { uid: 999, gid: 998 } },
          mode: 0o440,
          link: "/var/lib/db/password",
        }),
      ],
    }),
  )
  const [f] = plan.files
  assert.ok(f)
  assert.deepEqual([f.uid, f.gid, f.mode, text(f.content), f.kept], [999, 998, 0o440, "pw", false])
  assert.deepEqual(plan.links, [
    {
      kind: "secret",
      name: "db/password",
      path: "/var/lib/db/password",
      target: "/run/secrets/db/password",
      uid: 999,
      gid: 998,
    },
  ])
})

test("templates render under rendered/ from placeholders", () => {
  const placeholders = new Map([
    ["db/password", placeholderFor("db/password")],
    ["user", placeholderFor("user")],
  ])
  const plan = planGeneration(
    input({
      secrets: [secret("db/password", "hunter2"), secret("user", "app")],
      templates: [
        template(
          "app.conf",
          `user=${placeholderFor("user")}\npw=${placeholderFor("db/password")}\n`,
          {
            link: "/etc/app.conf",
          },
        ),
      ],
      placeholderBySecretName: placeholders,
    }),
  )
  const rendered = plan.files.find((f) => f.kind === "template")
  assert.ok(rendered)
  assert.equal(rendered.path, "rendered/app.conf")
  assert.equal(text(rendered.content), "user=app\npw=hunter2\n")
  assert.equal(plan.links[0]?.target, "/run/secrets/rendered/app.conf")
  assert.ok(plan.directories.some((d) => d.path === "rendered"))
})

test("a failed secret keeps its previous file; others are installed; its template fails too", () => {
  const placeholders = new Map([["bad", placeholderFor("bad")]])
  const previous = new Map<string, PreviousEntry>([
    ["bad", file("old-bad", 5, 6, 0o440)],
    ["rendered/t", file("old-rendered")],
  ])
  const plan = planGeneration(
    input({
      secrets: [secret("good", "g"), secret("bad", null)],
      templates: [template("t", `x=${placeholderFor("bad")}`)],
      placeholderBySecretName: placeholders,
      previous,
    }),
  )
  assert.deepEqual(
    plan.failures.map((f) => [f.kind, f.name, f.kept]),
    [
      ["secret", "bad", true],
      ["template", "t", true],
    ],
  )
  assert.match(plan.failures[1]?.reason ?? "", /uses secret "bad"/)
  const bad = plan.files.find((f) => f.name === "bad")
  assert.ok(bad)
  assert.deepEqual(
    [text(bad.content), bad.uid, bad.gid, bad.mode, bad.kept],
    ["old-bad", 5, 6, 0o440, true],
  )
  assert.equal(text(plan.files.find((f) => f.name === "t")?.content ?? bytes("")), "old-rendered")
  assert.ok(plan.files.some((f) => f.name === "good" && !f.kept))
  // kept files are not changes
  assert.deepEqual(plan.changes.changed, [])
})

test("a failed secret with no previous file is left out", () => {
  const plan = planGeneration(input({ secrets: [secret("bad", null)], previous: new Map() }))
  assert.deepEqual(plan.files, [])
  assert.equal(plan.failures[0]?.kept, false)
})

test("an unknown owner fails only that secret", () => {
  const plan = planGeneration(
    input({
      secrets: [
        secret("a", "1", { owner: { ok: false, reason: 'owner "ghost" is not a user' } }),
        secret("b", "2"),
      ],
    }),
  )
  assert.deepEqual(
    plan.failures.map((f) => f.name),
    ["a"],
  )
  assert.deepEqual(
    plan.files.map((f) => f.name),
    ["b"],
  )
})

test("content, owner and mode changes restart units; unchanged secrets do not", () => {
  const previous = new Map<string, PreviousEntry>([
    ["content", file("old")],
    ["owner", file("same", 0, 0)],
    ["mode", file("same", 0, 0, 0o400)],
    ["same", file("same")],
    ["gone", file("x")],
    ["rendered/oldtemplate", file("x")],
  ])
  const plan = planGeneration(
    input({
      secrets: [
        secret("content", "new", { restartUnits: ["a.service"] }),
        secret("owner", "same", {
          owner: { ok: true, value: { uid: 7, gid: 0 } },
          reloadUnits: ["b.service"],
        }),
        secret("mode", "same", { mode: 0o440, restartUnits: ["c.service"] }),
        secret("same", "same", { restartUnits: ["never.service"] }),
        secret("fresh", "f", { restartUnits: ["d.service", "a.service"] }),
      ],
      previous,
    }),
  )
  assert.deepEqual(plan.restartUnits, ["a.service", "c.service", "d.service"])
  assert.deepEqual(plan.reloadUnits, ["b.service"])
  assert.deepEqual(
    plan.changes.changed.map((c) => [c.name, c.aspects]),
    [
      ["content", ["content"]],
      ["owner", ["owner"]],
      ["mode", ["mode"]],
    ],
  )
  assert.deepEqual(plan.changes.added, [{ kind: "secret", name: "fresh" }])
  assert.deepEqual(plan.changes.removed, [
    { kind: "secret", name: "gone" },
    { kind: "template", name: "oldtemplate" },
  ])
  const lines = describeChanges(plan, false).join("\n")
  assert.match(lines, /adding secret\(s\): fresh/)
  assert.match(lines, /modifying secret\(s\): content, owner, mode/)
  assert.match(lines, /removing secret\(s\): gone/)
  assert.match(lines, /restarting: a.service c.service d.service/)
  assert.doesNotMatch(lines, /hunter|new|same\b/, "values never appear in the report")
  assert.match(describeChanges(plan, true).join("\n"), /would add secret\(s\): fresh/)
})

test("a reload is dropped when the same unit is restarted anyway", () => {
  const plan = planGeneration(
    input({
      secrets: [
        secret("a", "1", { restartUnits: ["x.service"], reloadUnits: ["x.service", "y.service"] }),
      ],
      previous: new Map(),
    }),
  )
  assert.deepEqual(plan.restartUnits, ["x.service"])
  assert.deepEqual(plan.reloadUnits, ["y.service"])
})

test("first install since boot restarts nothing", () => {
  const plan = planGeneration(
    input({ secrets: [secret("a", "1", { restartUnits: ["x.service"] })] }),
  )
  assert.deepEqual(plan.restartUnits, [])
  assert.deepEqual(plan.changes.added, [])
})

test("hostile and colliding names are refused, and never become files", () => {
  for (const name of ["../etc/passwd", "/abs", "a//b", "a/./b", "a/..", ""]) {
    assert.notEqual(unsafeNameReason(name), undefined, name)
  }
  assert.equal(unsafeNameReason("a/b.c"), undefined)
  const plan = planGeneration(
    input({
      secrets: [secret("../escape", "x"), secret("a", "1"), secret("a/b", "2"), secret("a", "3")],
    }),
  )
  assert.deepEqual(
    plan.files.map((f) => f.path),
    ["a"],
  )
  assert.deepEqual(
    plan.failures.map((f) => f.name),
    ["../escape", "a/b", "a"],
  )
})

test("modes never give access to others", () => {
  assert.equal(safeMode(0o644), 0o640)
  assert.equal(safeMode(0o4755), 0o750)
  const plan = planGeneration(input({ secrets: [secret("a", "1", { mode: 0o601 })] }))
  assert.equal(plan.files[0]?.mode, 0o600)
  assert.match(plan.warnings[0] ?? "", /narrowed to 0600/)
})
