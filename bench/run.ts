/**
 * The benchmark runner (`npm run bench`, docs/goals.md "Capabilities" and "Performance
 * targets"): runs the suites named on the command line (`age`, `sops`; all when none is
 * named), prints their sections, and rewrites bench/README.md: the machine, date and
 * command at the top, then one section per suite. Sections of suites not run this time are
 * kept as they were.
 *
 *     npm run bench                      # every suite
 *     node dist/bench/run.js age         # one suite (after npm run build)
 *     BENCH_SIZES=1K,64M,512M node dist/bench/run.js age
 *     node dist/bench/run.js age --no-readme   # print only
 */
import { spawnSync } from "node:child_process"
import { existsSync, readFileSync, writeFileSync } from "node:fs"
import { cpus, loadavg, release, totalmem } from "node:os"
import { fileURLToPath } from "node:url"
import { formatAgeBench, runAgeBench } from "./age.js"
import { formatSopsBench, runSopsBench, sopsBenchOptionsFromEnvironment } from "./sops.js"
import { formatUpdatekeysBench, runUpdatekeysBench } from "./updatekeys.js"
import { formatInstallBench, runInstallBench } from "./install.js"
import { formatAuditBench, runAuditBench } from "./audit.js"
import { formatTailscaleBench, runTailscaleBench } from "./tailscale.js"

/** A suite: a name for argv and a function producing its README section. */
interface Suite {
  readonly name: string
  run(): Promise<string>
}

const suites: readonly Suite[] = [
  { name: "age", run: async () => formatAgeBench(await runAgeBench()) },
  {
    name: "sops",
    run: async () =>
      formatSopsBench(await runSopsBench(sopsBenchOptionsFromEnvironment(process.argv.slice(2)))),
  },
  { name: "install", run: async () => formatInstallBench(await runInstallBench()) },
  { name: "updatekeys", run: async () => formatUpdatekeysBench(await runUpdatekeysBench()) },
  { name: "audit", run: async () => formatAuditBench(await runAuditBench()) },
  { name: "tailscale", run: async () => formatTailscaleBench(await runTailscaleBench()) },
]

const readmePath = fileURLToPath(new URL("../../bench/README.md", import.meta.url))

function toolVersion(command: string, args: readonly string[]): string {
  const result = spawnSync(command, args, { encoding: "utf8" })
  return result.status === 0 ? result.stdout.trim() : "not installed"
}

function machineLines(command: string, loadBefore: string, loadAfter: string): string[] {
  const cpu = cpus()
  return [
    `- Date: ${new Date().toISOString()}`,
    `- Command: \`${command}\``,
    `- Machine: ${cpu.length} × ${cpu[0]?.model ?? "unknown CPU"}, ${(totalmem() / 1024 ** 3).toFixed(1)} GiB RAM, Linux ${release()}`,
    `- Node ${process.version}; Go age ${toolVersion("age", ["--version"])}`,
    `- Load average (1 min) before / after: ${loadBefore} / ${loadAfter} (other work on the machine skews wall times)`,
  ]
}

const SECTION = /<!-- suite:(\w+) -->\n([\s\S]*?)<!-- \/suite:\1 -->\n?/g

/** The suite sections already in README.md, by name. */
function existingSections(): Map<string, string> {
  const sections = new Map<string, string>()
  if (!existsSync(readmePath)) return sections
  for (const match of readFileSync(readmePath, "utf8").matchAll(SECTION)) {
    if (match[1] !== undefined && match[2] !== undefined) sections.set(match[1], match[2])
  }
  return sections
}

async function main(argv: readonly string[]): Promise<void> {
  const names = argv.filter((a) => !a.startsWith("--"))
  const unknown = names.filter((n) => !suites.some((s) => s.name === n))
  if (unknown.length > 0) {
    throw new Error(
      `unknown suite ${unknown.join(", ")}; suites are ${suites.map((s) => s.name).join(", ")}`,
    )
  }
  const chosen = names.length === 0 ? suites : suites.filter((s) => names.includes(s.name))
  const loadBefore = (loadavg()[0] ?? 0).toFixed(2)
  const sections = existingSections()
  for (const suite of chosen) {
    process.stderr.write(`running the ${suite.name} benchmark…\n`)
    const text = await suite.run()
    process.stdout.write(`${text}\n`)
    sections.set(suite.name, text.endsWith("\n") ? text : `${text}\n`)
  }
  if (argv.includes("--no-readme")) return
  const loadAfter = (loadavg()[0] ?? 0).toFixed(2)
  const env =
    process.env["BENCH_SIZES"] === undefined ? "" : `BENCH_SIZES=${process.env["BENCH_SIZES"]} `
  const command = `${env}node dist/bench/run.js ${names.join(" ")}`.trim()
  const body = [
    "# Benchmarks",
    "",
    "Written by `bench/run.ts` (`npm run bench`; one suite: `node dist/bench/run.js age`).",
    `Targets: docs/goals.md "Performance targets". Last run (suites: ${chosen.map((s) => s.name).join(", ")}; other sections are from earlier runs):`,
    "",
    ...machineLines(command, loadBefore, loadAfter),
    "",
    ...suites
      .filter((s) => sections.has(s.name))
      .map(
        (s) => `<!-- suite:${s.name} -->\n${sections.get(s.name) ?? ""}<!-- /suite:${s.name} -->\n`,
      ),
  ].join("\n")
  writeFileSync(readmePath, body)
  process.stderr.write(`wrote ${readmePath}\n`)
}

await main(process.argv.slice(2))
