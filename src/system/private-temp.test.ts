// Unit tests for choosing a RAM-backed place for plaintext (docs/goals.md "Capabilities").
import { test } from "node:test"
import assert from "node:assert/strict"
import { readdirSync, statSync } from "node:fs"
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
