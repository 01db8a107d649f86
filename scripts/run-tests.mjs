// Runs every compiled test file (dist/**/*.test.js) with Node's built-in test runner.
// Node 20 has no glob support for --test, so the files are listed here.
// Usage: node scripts/run-tests.mjs [substring...]   (only files whose path contains one)
// The last line printed is one plain summary, `N passed, N failed, N skipped`, counted by
// scripts/count-reporter.mjs beside the spec reporter's output.
import { mkdtempSync, readFileSync, readdirSync, rmSync, statSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { spawnSync } from "node:child_process"
import { fileURLToPath } from "node:url"

function collect(dir) {
  const out = []
  for (const name of readdirSync(dir)) {
    const p = join(dir, name)
    if (statSync(p).isDirectory()) out.push(...collect(p))
    else if (name.endsWith(".test.js")) out.push(p)
  }
  return out
}

const filters = process.argv.slice(2)
const files = collect("dist")
  .filter((f) => filters.length === 0 || filters.some((s) => f.includes(s)))
  .sort()
if (files.length === 0) {
  console.error("error: no test files found under dist/ (did the build run?)")
  process.exit(1)
}
const countsDir = mkdtempSync(join(tmpdir(), "coffer-test-counts-"))
const countsFile = join(countsDir, "counts.json")
const counter = fileURLToPath(new URL("./count-reporter.mjs", import.meta.url))
let result
try {
  result = spawnSync(
    process.execPath,
    [
      "--test",
      "--test-concurrency=2",
      "--test-reporter=spec",
      "--test-reporter-destination=stdout",
      `--test-reporter=${counter}`,
      `--test-reporter-destination=${countsFile}`,
      ...files,
    ],
    { stdio: "inherit" },
  )
  let counts = null
  try {
    counts = JSON.parse(readFileSync(countsFile, "utf8"))
  } catch {
    // the runner died before its reporters finished: say so in the summary
  }
  if (counts === null) {
    console.log(
      `0 passed, 1 failed, 0 skipped (the test runner exited with ${result.status ?? result.signal})`,
    )
  } else {
    if (result.status !== 0 && counts.failed === 0) counts.failed = 1
    console.log(`${counts.passed} passed, ${counts.failed} failed, ${counts.skipped} skipped`)
  }
} finally {
  rmSync(countsDir, { recursive: true, force: true })
}
process.exit(result.status ?? 1)
