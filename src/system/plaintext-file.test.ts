import assert from "node:assert/strict"
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { test } from "node:test"
import { createFifo, feedFifo, finishFifo, unblockFifo } from "./plaintext-file.js"

test("finishFifo ends a FIFO writer that no reader came for, even one that reached open() late", async (t) => {
  const dir = mkdtempSync(join(tmpdir(), "coffer-fifo-"))
  t.after(() => {
    rmSync(dir, { recursive: true, force: true })
  })
  const path = join(dir, "plain")
  createFifo(path, dir)
  // the command has exited and the read end was opened and closed once before the pool's
  // thread started the writer's open(): a single unblock would leave it waiting forever
  unblockFifo(path)
  const writing = feedFifo(path, new Uint8Array(200_000))
  let timer: NodeJS.Timeout | undefined
  const outcome = await Promise.race([
    finishFifo(path, writing).then(() => "finished"),
    new Promise<string>((resolve) => {
      timer = setTimeout(() => {
        resolve("still waiting")
      }, 10_000)
    }),
  ])
  clearTimeout(timer)
  assert.equal(outcome, "finished")
})
