/**
 * `coffer units MANIFEST.json --out DIR`: writes the systemd units around `coffer install`
 * (issue 5 "systemd"; docs/systemd.md "The install unit"): the install service, the users-phase
 * service when the manifest has `neededForUsers` secrets, and one drop-in per consumer
 * unit (`<unit>.d/coffer-secrets.conf`) with `Requires=`+`After=` and `LoadCredential=`.
 *
 * Read, compute (`planUnits`, pure), then write: the effects live in `writeUnits`.
 * Unit files hold no secrets (only paths and names), so they are written 0644.
 */
import { mkdir, readFile, rename, writeFile } from "node:fs/promises"
import { dirname, isAbsolute, join, resolve } from "node:path"
import type { CliContext } from "../command.js"
import type { ExitCode } from "../exit-codes.js"
import { flagIsSet, flagValue, type FlagSpec } from "../flags.js"
import { parseCommandLine } from "../sops-file.js"
import { describeSystemError } from "../../system/system-error.js"
import { IoError, UsageError } from "../../internal/errors.js"
import { parseManifest } from "../../host/manifest.js"
import { planUnits, type UnitPlan } from "../../host/units.js"

const flagSpecs: readonly FlagSpec[] = [
  { key: "out", names: ["o", "out"], kind: "value" },
  { key: "coffer", names: ["coffer"], kind: "value" },
  { key: "manifestPath", names: ["manifest-path"], kind: "value" },
  { key: "late", names: ["late"], kind: "boolean" },
  { key: "nixos", names: ["nixos"], kind: "boolean" },
  { key: "wants", names: ["wants"], kind: "boolean" },
  { key: "print", names: ["print"], kind: "boolean" },
  { key: "json", names: ["json"], kind: "boolean" },
]

function helpText(invokedAs: string): string {
  return `Usage:
    ${invokedAs} MANIFEST.json --out DIR [options]
    ${invokedAs} MANIFEST.json --print [options]
    ${invokedAs} MANIFEST.json --json [--out DIR] [options]

Writes the systemd units that run "coffer install" at boot and order the services that
use the secrets after it.

Files written (under DIR, e.g. /etc/systemd/system):
    coffer-install-secrets.service            installs the secrets (oneshot, RemainAfterExit)
    coffer-install-secrets-for-users.service  neededForUsers secrets, before users exist
    coffer-tailscale.service                  the manifest's "tailscale" section: joins the
                                              tailnet (coffer tailscale up --manifest)
    UNIT.d/coffer-secrets.conf                for each unit in restartUnits, reloadUnits or
                                              a credential: Requires= and After= the install
                                              service, and LoadCredential= lines

Options:
    -o, --out DIR           Write the files under DIR (directories are created).
    --print                 Print the files on standard output instead of writing them.
    --json                  Print the plan as JSON (docs/cli-json.md): every file's path
                            and text, the install units, the consumers; with --out, the
                            files are also written and their paths listed.
    --coffer PATH           The coffer executable for ExecStart= (default: this one).
    --manifest-path PATH    The manifest's path on the host (default: MANIFEST.json, absolute).
    --late                  Install after basic boot (WantedBy=multi-user.target) instead of
                            early in sysinit (needed for sshd, networking, tailscale at boot).
    --nixos                 Also re-run on NixOS switches (sysinit-reactivation.target).
    --wants                 Consumers use Wants= instead of Requires= (they start even if the
                            install failed).

Examples:
    $ ${invokedAs} /etc/coffer/manifest.json --out /etc/systemd/system
    $ systemctl daemon-reload && systemctl enable coffer-install-secrets.service
    $ ${invokedAs} manifest.json --print --coffer /usr/bin/coffer
    $ ${invokedAs} manifest.json --json | jq -r '.files[].path'
`
}

/**
 * Runs `coffer units`.
 * @throws UsageError, IoError, ManifestError
 */
export async function run(args: readonly string[], ctx: CliContext): Promise<ExitCode | undefined> {
  // flags may come before or after the manifest (`coffer units M --out D`)
  const parsed = parseCommandLine(args, flagSpecs, ctx, helpText)
  if (parsed === undefined) return undefined
  const [manifestArg, ...extra] = parsed.positionals
  if (manifestArg === undefined) {
    throw new UsageError("missing the manifest", {
      hints: [`usage: ${ctx.invokedAs} MANIFEST.json --out DIR`],
    })
  }
  if (extra.length > 0) {
    throw new UsageError(`unexpected argument ${JSON.stringify(extra[0])}`, {
      hints: [`usage: ${ctx.invokedAs} MANIFEST.json --out DIR`],
    })
  }
  const out = flagValue(parsed, "out")
  const print = flagIsSet(parsed, "print")
  const json = flagIsSet(parsed, "json")
  if (print && json) {
    throw new UsageError("--print and --json can't be used together", {
      hints: ["--json includes every file's text"],
    })
  }
  if (!json && (out === undefined) === !print) {
    throw new UsageError("give exactly one of --out DIR and --print", {
      hints: [`${ctx.invokedAs} ${manifestArg} --out /etc/systemd/system`],
    })
  }
  if (print && out !== undefined) {
    throw new UsageError("give exactly one of --out DIR and --print", {
      hints: [`${ctx.invokedAs} ${manifestArg} --out /etc/systemd/system`],
    })
  }
  const cofferPath = flagValue(parsed, "coffer") ?? defaultCofferPath()
  const manifestPath = flagValue(parsed, "manifestPath") ?? resolve(manifestArg)
  for (const [flag, path] of [
    ["--coffer", cofferPath],
    ["--manifest-path", manifestPath],
  ] as const) {
    if (!isAbsolute(path)) {
      throw new UsageError(`${flag} ${JSON.stringify(path)} is not an absolute path`, {
        hints: ["systemd runs ExecStart= without a working directory: give an absolute path"],
      })
    }
  }

  let text: string
  try {
    text = await readFile(manifestArg, "utf8")
  } catch (cause) {
    throw new IoError(
      `can't read manifest ${JSON.stringify(manifestArg)}: ${describeSystemError(cause)}`,
      { cause },
    )
  }
  const manifest = parseManifest(text, manifestArg, {
    warn: (m) => {
      ctx.warn(m)
    },
  })
  const plan = planUnits(manifest, {
    cofferPath,
    manifestPath,
    stage: flagIsSet(parsed, "late") ? "late" : "early",
    nixos: flagIsSet(parsed, "nixos"),
    dependency: flagIsSet(parsed, "wants") ? "wants" : "requires",
  })
  if (print) {
    ctx.stdout.write(plan.files.map((f) => `# ${f.path}\n${f.text}`).join("\n"))
    return undefined
  }
  if (json) {
    const writtenPaths = out === undefined ? null : await writeUnits(plan, out)
    ctx.stdout.write(`${JSON.stringify(unitsJson(plan, writtenPaths), null, 2)}\n`)
    return undefined
  }
  const written = await writeUnits(plan, out ?? "")
  for (const path of written) ctx.stdout.write(`${path}\n`)
  ctx.note(
    `wrote ${written.length} unit file(s); run "systemctl daemon-reload" and enable ${[...plan.installUnits, ...(plan.tailscaleUnit === null ? [] : [plan.tailscaleUnit])].join(" and ")}`,
  )
  return undefined
}

/**
 * Writes every file of `plan` under `outDir`, each through a temporary file and a rename
 * so systemd never reads half a unit.
 * @returns the paths written
 * @throws IoError naming the file that could not be written
 */
export async function writeUnits(plan: UnitPlan, outDir: string): Promise<string[]> {
  const written: string[] = []
  for (const file of plan.files) {
    const path = join(outDir, file.path)
    const temp = join(dirname(path), `.${file.path.split("/").at(-1) ?? "unit"}.coffer-tmp`)
    try {
      await mkdir(dirname(path), { recursive: true, mode: 0o755 })
      await writeFile(temp, file.text, { mode: 0o644 })
      await rename(temp, path)
    } catch (cause) {
      throw new IoError(`can't write ${JSON.stringify(path)}: ${describeSystemError(cause)}`, {
        cause,
      })
    }
    written.push(path)
  }
  return written
}

/**
 * The JSON of `coffer units --json` (docs/cli-json.md "units").
 * @param written the absolute paths written (with --out), or null
 */
function unitsJson(plan: UnitPlan, written: readonly string[] | null): unknown {
  return {
    files: plan.files.map((f) => ({ path: f.path, text: f.text })),
    installUnits: plan.installUnits,
    consumers: plan.consumers,
    tailscaleUnit: plan.tailscaleUnit,
    written,
  }
}

function defaultCofferPath(): string {
  const script = process.argv[1]
  return script === undefined ? "/usr/bin/coffer" : resolve(script)
}
