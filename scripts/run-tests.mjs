// Runs every compiled test file (dist/**/*.test.js) with Node's built-in test runner.
// Node 20 has no glob support for --test, so the files are listed here.
// Usage: node scripts/run-tests.mjs [substring...]   (only files whose path contains one)
import { readdirSync, statSync } from "node:fs"
import { join } from "node:path"
import { spawnSync } from "node:child_process"

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
const result = spawnSync(
  process.execPath,
  ["--test", "--test-concurrency=2", "--test-reporter=spec", ...files],
  { stdio: "inherit" },
)
process.exit(result.status ?? 1)
