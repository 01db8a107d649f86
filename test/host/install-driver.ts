/**
 * Test-only entry point for fault injection (issue 5 "kill the installer at every step"):
 * runs the same install as `coffer install MANIFEST` through `installManifest`, with a
 * step hook that SIGKILLs this very process when the step named by `COFFER_TEST_CRASH_AT`
 * (`step` or `step:N`, the Nth time that step is reached) comes, and one that, at the step
 * named by `COFFER_TEST_PAUSE_AT` (`step=FILE`), writes `FILE.reached` and waits until
 * `FILE` exists. Production code has no such hook: only this file reads the variables.
 *
 * Usage: node dist/test/host/install-driver.js MANIFEST.json
 */
import { existsSync, readFileSync, writeFileSync } from "node:fs"
import { setTimeout as sleep } from "node:timers/promises"
import type { InstallStep } from "../../src/host/apply.js"
import { assertComplete, installManifest } from "../../src/host/apply.js"
import { systemHostFs } from "../../src/host/host-fs.js"
import { parseManifest } from "../../src/host/manifest.js"

const [manifestPath] = process.argv.slice(2)
if (manifestPath === undefined) {
  process.stderr.write("usage: install-driver MANIFEST.json\n")
  process.exit(2)
}
const crashAt = process.env["COFFER_TEST_CRASH_AT"] ?? ""
const [crashStep, crashCountText] = crashAt.split(":")
const crashCount = crashCountText === undefined ? 1 : Number(crashCountText)
const seen = new Map<InstallStep, number>()
const [pauseStep, pauseFile] = (process.env["COFFER_TEST_PAUSE_AT"] ?? "").split("=")

try {
  const manifest = parseManifest(readFileSync(manifestPath, "utf8"), manifestPath)
  const report = await installManifest(
    manifest,
    { dryRun: false, ignorePasswd: false, checkMode: "off", allowPersistent: false, phase: "all" },
    {
      fs: systemHostFs(),
      env: process.env,
      log: {
        note: (line) => process.stdout.write(`${line}\n`),
        warn: (line) => process.stderr.write(`warning: ${line}\n`),
      },
      hooks: {
        step: async (step) => {
          const n = (seen.get(step) ?? 0) + 1
          seen.set(step, n)
          if (step === crashStep && n === crashCount) process.kill(process.pid, "SIGKILL")
          if (step === pauseStep && pauseFile !== undefined) {
            writeFileSync(`${pauseFile}.reached`, String(process.pid))
            while (!existsSync(pauseFile)) await sleep(20)
          }
        },
      },
    },
  )
  assertComplete(report)
} catch (e) {
  process.stderr.write(`error: ${e instanceof Error ? e.message : String(e)}\n`)
  process.exit(1)
}
