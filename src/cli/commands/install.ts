/**
 * `coffer install MANIFEST.json`: sops-nix's `sops-install-secrets`
 * (docs/host/sops-nix-manifest.md "Command line", "The install, step by step") with
 * coffer's additions (docs/manifest.md): decrypts the manifest's secrets into a new
 * numbered generation on a ramfs, switches `/run/secrets` to it, prunes old generations and
 * restarts the units whose secrets changed.
 *
 * Flags follow sops-install-secrets, in both spellings: `-ignore-passwd`/`--ignore-passwd`,
 * `-check-mode=manifest|sopsfile`/`--check-mode`. The report names secrets, never values.
 * When a secret fails, the others are installed and the command exits non-zero.
 */
import { readFile } from "node:fs/promises"
import type { CliContext } from "../command.js"
import type { ExitCode } from "../exit-codes.js"
import { flagIsSet, flagValue, type FlagSpec } from "../flags.js"
import { parseCommandLine, singleFile } from "../sops-file.js"
import { IoError, UsageError } from "../../internal/errors.js"
import type { CheckMode, InstallPhase } from "../../host/apply.js"
import { DEFAULT_LOCK_TIMEOUT_MS, assertComplete, installManifest } from "../../host/apply.js"
import { systemHostFs } from "../../host/host-fs.js"
import { defaultSourceLimits } from "../../host/source-pool.js"
import { ManifestError } from "../../host/errors.js"
import { expandRuntimeDir, parseManifest } from "../../host/manifest.js"
import { describeSystemError } from "../../system/system-error.js"
import { installReportJson } from "../install-json.js"

const flagSpecs: readonly FlagSpec[] = [
  { key: "dryRun", names: ["dry-run"], kind: "boolean" },
  { key: "ignorePasswd", names: ["ignore-passwd"], kind: "boolean" },
  { key: "checkMode", names: ["check-mode"], kind: "value" },
  { key: "allowPersistent", names: ["allow-persistent"], kind: "boolean" },
  { key: "phase", names: ["phase"], kind: "value" },
  { key: "sourceTimeout", names: ["source-timeout"], kind: "value" },
  { key: "sourceMemory", names: ["source-memory"], kind: "value" },
  { key: "lockTimeout", names: ["lock-timeout"], kind: "value" },
  { key: "json", names: ["json"], kind: "boolean" },
]

function helpText(invokedAs: string): string {
  return `Usage:
    ${invokedAs} [FLAGS] MANIFEST.json

Installs the secrets of a sops-nix manifest (sops-install-secrets's JSON, plus coffer's
age-file secrets and credentials): each sops or age file is decrypted once with the host's
keys, a new generation is written to a ramfs at secretsMountPoint (/run/secrets.d),
symlinkPath (/run/secrets) is switched to it atomically, old generations are pruned, and
the restartUnits/reloadUnits of changed secrets are restarted or reloaded.

A secret that cannot be installed (missing key, undecryptable file, unknown owner) is
named; every other secret is installed, the failed one keeps its previous content, and
the exit status is 1.

Flags:
    --dry-run               Print the plan (what would be added, changed, removed and
                            restarted); change nothing.
    --ignore-passwd         Look up no user or group: everything is owned by 0:0.
    --check-mode MODE       manifest: check the manifest only; sopsfile: also parse each
                            sops file and check every key exists (no decryption).
    --phase PHASE           all (default), users (neededForUsers secrets only, root-owned,
                            before accounts exist) or regular (everything else).
    --allow-persistent      Accept a mount point on a disk filesystem (plaintext on disk).
    --source-timeout SECS   How long one sops or age file may take to decrypt (default
                            120); a slower one fails like any failing secret.
    --source-memory MIB     How much memory one file may take to decrypt (default 1024);
                            files larger than a quarter of it are refused unread.
    --lock-timeout SECS     How long to wait while another install of the same
                            secretsMountPoint runs (default 60); it is named.
    --json                  Print the plan and the outcome as JSON on standard output
                            (docs/cli-json.md; names, paths, owners and modes, never
                            values); progress lines go to standard error.

sops-install-secrets's spellings -ignore-passwd and -check-mode=MODE work too.

Examples:
    $ ${invokedAs} /etc/coffer/manifest.json
    $ ${invokedAs} --dry-run /etc/coffer/manifest.json
    $ ${invokedAs} --dry-run --json /etc/coffer/manifest.json | jq '.phases[].changes'
    $ ${invokedAs} --phase users /etc/coffer/manifest.json
    $ ${invokedAs} -check-mode=sopsfile ./manifest.json
`
}

function checkModeOf(text: string | undefined): CheckMode {
  if (text === undefined || text === "off") return "off"
  if (text === "manifest" || text === "sopsfile") return text
  throw new UsageError(`unknown check mode ${JSON.stringify(text)}`, {
    hints: ["--check-mode is off, manifest or sopsfile"],
  })
}

/** A positive number flag (`--source-timeout 30`), or the default when absent. */
function positiveNumber(flag: string, text: string | undefined, fallback: number): number {
  if (text === undefined) return fallback
  const n = Number(text)
  if (!/^[0-9]+(\.[0-9]+)?$/.test(text) || !(n > 0)) {
    throw new UsageError(`--${flag} ${JSON.stringify(text)} is not a positive number`, {
      hints: [`--${flag} takes a number, e.g. --${flag} ${String(fallback)}`],
    })
  }
  return n
}

function phaseOf(text: string | undefined): InstallPhase {
  if (text === undefined) return "all"
  if (text === "all" || text === "users" || text === "regular") return text
  throw new UsageError(`unknown phase ${JSON.stringify(text)}`, {
    hints: ["--phase is all, users or regular"],
  })
}

/**
 * Runs `coffer install`.
 * @throws UsageError, IoError, ManifestError, HostFsError, PersistentFsError, HostKeyError,
 *   SecretSourceError (check mode), InstallIncompleteError (some secrets failed)
 */
export async function run(args: readonly string[], ctx: CliContext): Promise<ExitCode | undefined> {
  const parsed = parseCommandLine(args, flagSpecs, ctx, helpText)
  if (parsed === undefined) return undefined
  const file = singleFile(parsed, ctx.invokedAs)
  const checkMode = checkModeOf(flagValue(parsed, "checkMode"))
  const phase = phaseOf(flagValue(parsed, "phase"))
  const sourceLimits = {
    timeoutMs:
      positiveNumber(
        "source-timeout",
        flagValue(parsed, "sourceTimeout"),
        defaultSourceLimits.timeoutMs / 1000,
      ) * 1000,
    memoryMb: Math.ceil(
      positiveNumber(
        "source-memory",
        flagValue(parsed, "sourceMemory"),
        defaultSourceLimits.memoryMb,
      ),
    ),
  }
  const json = flagIsSet(parsed, "json")
  let text: string
  try {
    text = await readFile(file, "utf8")
  } catch (cause) {
    throw new IoError(
      `can't read the manifest ${JSON.stringify(file)}: ${describeSystemError(cause)}`,
      {
        cause,
        hints: [
          "give the manifest's path: the JSON file sops-nix (or coffer's NixOS module) writes, see docs/manifest.md",
        ],
      },
    )
  }
  let manifest = parseManifest(text, file, {
    warn: (m) => {
      ctx.warn(m)
    },
  })
  if (manifest.secrets.length === 0 && manifest.templates.length === 0) {
    if (!listsSecrets(text)) {
      throw new ManifestError(
        `manifest ${JSON.stringify(file)} has no "secrets" list: there is nothing to install`,
        [{ subject: "manifest", field: "secrets", message: "missing" }],
        {
          hints: [
            'a manifest lists its secrets under "secrets" (sops-nix writes "secrets": [] when there are none); see docs/manifest.md',
          ],
        },
      )
    }
    ctx.warn(
      `manifest ${JSON.stringify(file)} lists no secrets and no templates: the new generation is empty, and ${manifest.symlinkPath} will hold nothing`,
    )
  }
  if (manifest.userMode) {
    const runtimeDir = ctx.env["XDG_RUNTIME_DIR"]
    if (runtimeDir === undefined || runtimeDir === "") {
      throw new UsageError(
        `manifest ${JSON.stringify(file)} is in userMode, and XDG_RUNTIME_DIR is not set: %r in its paths stands for that directory`,
        {
          hints: ["run it from the user's session (systemd --user sets XDG_RUNTIME_DIR)"],
        },
      )
    }
    manifest = expandRuntimeDir(manifest, runtimeDir)
  }
  const report = await installManifest(
    manifest,
    {
      dryRun: flagIsSet(parsed, "dryRun"),
      ignorePasswd: flagIsSet(parsed, "ignorePasswd"),
      checkMode,
      allowPersistent: flagIsSet(parsed, "allowPersistent"),
      phase,
      sourceLimits,
      lockTimeoutMs:
        positiveNumber(
          "lock-timeout",
          flagValue(parsed, "lockTimeout"),
          DEFAULT_LOCK_TIMEOUT_MS / 1000,
        ) * 1000,
    },
    {
      fs: systemHostFs(),
      env: ctx.env,
      log: {
        note: (line) => {
          // with --json, standard output holds the JSON document only
          if (json) ctx.note(line)
          else ctx.stdout.write(`${line}\n`)
        },
        warn: (line) => {
          ctx.warn(line)
        },
      },
    },
  )
  if (checkMode !== "off") ctx.note(`manifest "${file}" is valid (check mode ${checkMode})`)
  if (json) {
    ctx.stdout.write(
      `${JSON.stringify(installReportJson(report, { dryRun: flagIsSet(parsed, "dryRun"), checkMode }), null, 2)}\n`,
    )
  }
  assertComplete(report)
  return undefined
}

/** Whether the manifest's JSON has a `secrets` key (`{}` has none). */
function listsSecrets(text: string): boolean {
  const value: unknown = JSON.parse(text)
  return typeof value === "object" && value !== null && Object.hasOwn(value, "secrets")
}
