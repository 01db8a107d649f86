// Builds dist/: tsc, the CLI bundle (scripts/bundle.mjs) and the man pages
// (scripts/man.mjs), then stamps dist/ with a digest of everything the build reads
// (scripts/build-inputs.mjs). With --if-stale (what `npm test` runs) it builds only when
// that digest changed since the last build, so `npm ci && npm test` builds once: npm ci's
// prepare builds, and npm test finds dist/ current.
import { execFileSync } from "node:child_process"
import { existsSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { createRequire } from "node:module"
import { buildInputsDigest, stampPath } from "./build-inputs.mjs"

const ifStale = process.argv.includes("--if-stale")
const digest = buildInputsDigest(".")
const built = ["dist/bundle/main.cjs", "dist/man/coffer.1"].every((f) => existsSync(f))
if (ifStale && built && existsSync(stampPath) && readFileSync(stampPath, "utf8") === digest) {
  process.stderr.write("build: dist/ is current (nothing it is built from changed)\n")
  process.exit(0)
}
rmSync(stampPath, { force: true })
const tsc = createRequire(import.meta.url).resolve("typescript/bin/tsc")
const step = (args) => execFileSync(process.execPath, args, { stdio: "inherit" })
try {
  step([tsc, "-p", "tsconfig.json"])
  step(["scripts/bundle.mjs"])
  step(["scripts/man.mjs"])
} catch (error) {
  // the step printed why; exit with its status as `tsc && …` did
  process.exit(typeof error.status === "number" ? error.status : 1)
}
// the digest of the inputs as they were when the build started
writeFileSync(stampPath, digest)
