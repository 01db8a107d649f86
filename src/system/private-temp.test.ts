// Unit tests for choosing a RAM-backed place for plaintext (docs/goals.md "Capabilities").
import { test } from "node:test"
import assert from "node:assert/strict"
import { spawnSync } from "node:child_process"
import { existsSync, mkdirSync, readdirSync, readlinkSync, statSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { IoError } from "../internal/errors.js"
import { createPrivateTempDir, fileSystemTypeOf } from "./private-temp.js"
import { tmpTree } from "../../test/support/tmp.js"

const MOUNTINFO = `22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw
25 22 0:21 / /dev/shm rw,nosuid,nodev shared:3 - tmpfs tmpfs rw
26 22 0:22 / /run/user/1000 rw,nosuid,nodev shared:4 - tmpfs tmpfs rw,size=1024k
27 22 0:23 / /mnt/my\\040disk rw - ext4 /dev/sdb1 rw
`

test("the mount holding a directory is the longest matching mount point", () => {
  assert.equal(fileSystemTypeOf("/dev/shm", MOUNTINFO), "tmpfs")
  assert.equal(fileSystemTypeOf("/run/user/1000/x", MOUNTINFO), "tmpfs")
  assert.equal(fileSystemTypeOf("/run/user/10000", MOUNTINFO), "ext4")
  assert.equal(fileSystemTypeOf("/mnt/my disk/a", MOUNTINFO), "ext4")
  assert.equal(fileSystemTypeOf("/home", MOUNTINFO), "ext4")
})

test("a private dir is 0700, warns off RAM, and is removed", (t) => {
  const parent = tmpTree(t)
  const warnings: string[] = []
  const dir = createPrivateTempDir({ COFFER_TMPDIR: parent }, (m) => warnings.push(m))
  assert.equal(statSync(dir.path).mode & 0o777, 0o700)
  assert.equal(dir.onRam, warnings.length === 0)
  dir.remove()
  dir.remove()
  assert.deepEqual(readdirSync(parent), [])
})

test("without a RAM file system the plaintext is refused, unless COFFER_TMPDIR asks for a place", (t) => {
  assert.throws(
    () => createPrivateTempDir({}, () => undefined, []),
    (e: unknown) =>
      e instanceof IoError &&
      e.message.startsWith("no RAM-backed file system for the plaintext") &&
      e.hints.some((h) => h.includes("COFFER_TMPDIR")),
  )
  const parent = tmpTree(t)
  const dir = createPrivateTempDir({ COFFER_TMPDIR: parent }, () => undefined, [])
  assert.ok(dir.path.startsWith(parent))
  dir.remove()
})

test("directories left by killed coffer processes are removed at the next start, with a warning", (t) => {
  const parent = tmpTree(t)
  const namespace = /\[(\d+)\]/.exec(readlinkSync("/proc/self/ns/pid"))?.[1] ?? "0"
  const dead = spawnSync(process.execPath, ["-e", "0"]).pid
  assert.ok(dead > 0)
  const make = (name: string): string => {
    const path = join(parent, name)
    mkdirSync(path, { mode: 0o700 })
    writeFileSync(join(path, "secrets.yaml"), "password: hunter2\n")
    return path
  }
  const stale = make(`coffer-${namespace}-${String(dead)}-AbC123`)
  const alive = make(`coffer-${namespace}-${String(process.ppid)}-AbC123`)
  const otherNamespace = make(`coffer-1${namespace}-${String(dead)}-AbC123`)
  const notOurs = make(`coffer-${String(dead)}-x`)
  const warnings: string[] = []
  const dir = createPrivateTempDir({ COFFER_TMPDIR: parent }, (m) => warnings.push(m))
  t.after(() => {
    dir.remove()
  })
  assert.ok(!existsSync(stale))
  for (const kept of [alive, otherNamespace, notOurs]) assert.ok(existsSync(kept), kept)
  assert.deepEqual(
    warnings.filter((w) => w.startsWith("removed")),
    [
      `removed ${stale}: plaintext left behind by coffer process ${String(dead)}, which was killed before it could clean up`,
    ],
  )
  assert.match(dir.path, new RegExp(`/coffer-${namespace}-${String(process.pid)}-\\w{6}$`))
})
