/**
 * The install sequence of `coffer install` (docs/host/sops-nix-manifest.md
 * "The install, step by step" (steps 2-15), "When something fails"; docs/agenix.md
 * "The activation"), carried out through the `HostFs` port:
 *
 * 1. validate everything first (the manifest is already parsed; owners are resolved here,
 *    each failure pinned on its secret); `--check-mode` stops here;
 * 2. load the host keys, then decrypt each source file ONCE, however many secrets it feeds;
 * 3. mount the secret filesystem (ramfs, or tmpfs with `noswap`) unless it is mounted;
 *    refuse a filesystem that keeps data on disk unless `allowPersistent` (this comes
 *    before step 2 when `sshKeyPaths` needs a temporary keyring there);
 * 4. plan the new generation against the current one (`plan.ts`);
 * 5. write generation N+1 completely (owners, modes, fsync) in a fresh directory;
 * 6. switch the stable symlink to it atomically, place custom-path links, prune;
 * 7. restart or reload the units whose secrets changed.
 *
 * One bad secret does not stop the others: it is reported by name, keeps its previous file,
 * and the install ends with `InstallIncompleteError` so the unit fails visibly. A kill at
 * any point leaves the symlink on a complete generation, because the generation is
 * complete before the rename that publishes it.
 */
import type { SourceRequest, SourceResult } from "./source.js"
import { reasonOf } from "./source.js"
import type { SourceLimits } from "./source-pool.js"
import { defaultSourceLimits, openSources } from "./source-pool.js"
import type { HostFs, GenerationEntry, Accounts, StatedFile } from "./host-fs.js"
import { MEMORY_FS_TYPES, canRead, parseId } from "./host-fs.js"
import {
  InstallIncompleteError,
  OwnerLookupError,
  PersistentFsError,
  SecretFsMountError,
  SecretSourceError,
} from "./errors.js"
import type { HostKeys } from "./keys.js"
import { loadHostKeys, removeStaleKeyrings } from "./keys.js"
import type { Manifest, OwnershipSpec, SecretSpec, TemplateSpec } from "./manifest.js"
import { manifestPhases, normalizePath, restartUnitsOf } from "./manifest.js"
import type { GenerationPlan, Outcome, Ownership, PlanSecret, PlanTemplate } from "./plan.js"
import { describeChanges, planGeneration } from "./plan.js"

/** How long an install waits for another one of the same secret filesystem (`--lock-timeout`). */
export const DEFAULT_LOCK_TIMEOUT_MS = 60_000

/** How many files are written at once. */
const WRITERS = 8

/**
 * What `--check-mode` asks for: `off` installs; the others only check
 * (docs/host/sops-nix-manifest.md "Checks at build time").
 */
export type CheckMode = "off" | "manifest" | "sopsfile"

/** Which secrets to install: both phases, or one of them (docs/manifest.md "Phases"). */
export type InstallPhase = "all" | "regular" | "users"

/** The command-line switches of `coffer install`. */
export interface InstallOptions {
  /** Print the plan, change nothing (`--dry-run`, or `NIXOS_ACTION=dry-activate`). */
  readonly dryRun: boolean
  /** Never look up users or groups: everything 0:0, keys gid 0 (`--ignore-passwd`). */
  readonly ignorePasswd: boolean
  readonly checkMode: CheckMode
  /** Accept a mount point on a disk filesystem (`--allow-persistent`). */
  readonly allowPersistent: boolean
  readonly phase: InstallPhase
  /**
   * How long and how much memory one source file may take (`--source-timeout`,
   * `--source-memory`); default `defaultSourceLimits`.
   */
  readonly sourceLimits?: SourceLimits
  /** How long to wait for another install's lock (`--lock-timeout`); default 60 s. */
  readonly lockTimeoutMs?: number
}

/** Named points of the sequence, for fault-injection tests (`hooks.step`). */
export type InstallStep =
  | "validated"
  | "locked"
  | "keys-loaded"
  | "decrypted"
  | "mounted"
  | "generation-created"
  | "file-written"
  | "generation-written"
  | "switched"
  | "linked"
  | "pruned"
  | "units-notified"

/** Lines for the operator: notes (stderr, informational) and warnings. Never values. */
export interface InstallLog {
  note(line: string): void
  warn(line: string): void
}

/** The effects of one install. */
export interface InstallEnvironment {
  readonly fs: HostFs
  readonly env: Readonly<Record<string, string | undefined>>
  readonly log: InstallLog
  /** Test hooks; absent in production. Called after each step. */
  readonly hooks?: { readonly step?: (step: InstallStep) => void | Promise<void> }
}

/** A secret or template that could not be installed. */
export interface InstallFailure {
  readonly phase: "regular" | "users"
  readonly kind: "secret" | "template"
  readonly name: string
  readonly reason: string
  /** Whether its previous file was kept in the new generation. */
  readonly kept: boolean
}

/** What one phase did. */
export interface PhaseReport {
  readonly phase: "regular" | "users"
  readonly mountPoint: string
  readonly symlinkPath: string
  /** The generation written (undefined for dry runs and check modes). */
  readonly generation: number | undefined
  /** The filesystem type the generation lives on (undefined when nothing was mounted). */
  readonly fsType: string | undefined
  /** The plan (undefined in check modes). */
  readonly plan: GenerationPlan | undefined
  /** Source file → how many times it was decrypted (always 1 for files that were needed). */
  readonly decryptions: ReadonlyMap<string, number>
  /** Units actually asked to restart and reload. */
  readonly restarted: readonly string[]
  readonly reloaded: readonly string[]
}

/** What the whole install did. */
export interface InstallReport {
  readonly phases: readonly PhaseReport[]
  readonly failures: readonly InstallFailure[]
}

/**
 * Installs (or checks, or dry-runs) a manifest.
 * @param manifest a validated manifest (`parseManifest`)
 * @param options the command-line switches
 * @param environment the host, the process environment and the log
 * @returns what was done; failures of single secrets are in `failures` (the CLI turns them
 *   into `InstallIncompleteError`)
 * @throws HostFsError, PersistentFsError, HostKeyError for failures that stop everything;
 *   SecretSourceError in `--check-mode=sopsfile` listing every problem
 */
export async function installManifest(
  manifest: Manifest,
  options: InstallOptions,
  environment: InstallEnvironment,
): Promise<InstallReport> {
  const phases = manifestPhases(manifest)
  const selected: { phase: "regular" | "users"; manifest: Manifest }[] = []
  // users first: they must exist before sysusers/userborn creates the accounts
  if (phases.users !== null && options.phase !== "regular") {
    selected.push({ phase: "users", manifest: phases.users })
  }
  if (phases.regular !== null && options.phase !== "users") {
    selected.push({ phase: "regular", manifest: phases.regular })
  }
  const reports: PhaseReport[] = []
  const failures: InstallFailure[] = []
  for (const { phase, manifest: part } of selected) {
    const report = await installPhase(phase, part, options, environment, failures)
    reports.push(report)
  }
  return { phases: reports, failures }
}

/**
 * Throws `InstallIncompleteError` when some secrets failed.
 * @param report the install's report
 * @throws InstallIncompleteError naming every failed secret and template
 */
export function assertComplete(report: InstallReport): void {
  if (report.failures.length === 0) return
  const names = report.failures.map((f) => `${f.kind} "${f.name}"`)
  throw new InstallIncompleteError(
    `${String(report.failures.length)} secret${report.failures.length === 1 ? "" : "s"} could not be installed: ${names.join(", ")}`,
    {
      hints: [
        "every other secret was installed; a failed one keeps its previous content where it had one",
        ...report.failures.map((f) => `${f.kind} "${f.name}": ${f.reason}`),
      ],
    },
  )
}

async function step(environment: InstallEnvironment, name: InstallStep): Promise<void> {
  await environment.hooks?.step?.(name)
}

async function installPhase(
  phase: "regular" | "users",
  manifest: Manifest,
  options: InstallOptions,
  environment: InstallEnvironment,
  failures: InstallFailure[],
): Promise<PhaseReport> {
  const { fs, log } = environment
  // spec ("Secrets for users"): the users phase runs before accounts exist, so owners are
  // always root
  const ignorePasswd =
    options.ignorePasswd || phase === "users" || environment.env["NIXOS_ACTION"] === "dry-activate"
  const dryRun = options.dryRun || environment.env["NIXOS_ACTION"] === "dry-activate"
  const decryptions = new Map<string, number>()
  const base = {
    phase,
    mountPoint: manifest.secretsMountPoint,
    symlinkPath: manifest.symlinkPath,
  }

  // 1. Validate: owners (run-time lookups), then the check modes.
  const accounts: Accounts = ignorePasswd
    ? { users: new Map(), groups: new Map(), members: new Map() }
    : await fs.readAccounts()
  const keysGid = ignorePasswd
    ? 0
    : (accounts.groups.get("keys") ?? accounts.groups.get("nogroup") ?? 0)
  const ownerOf = (spec: OwnershipSpec): Outcome<Ownership> =>
    manifest.userMode
      ? { ok: true, value: { uid: process.getuid?.() ?? 0, gid: process.getgid?.() ?? 0 } }
      : resolveOwnership(spec, accounts, ignorePasswd)

  if (options.checkMode !== "off") {
    if (options.checkMode === "sopsfile")
      await checkSourceFiles(manifest, options.sourceLimits ?? defaultSourceLimits)
    await step(environment, "validated")
    return {
      ...base,
      generation: undefined,
      fsType: undefined,
      plan: undefined,
      decryptions,
      restarted: [],
      reloaded: [],
    }
  }
  // What is at symlinkPath must be a link coffer made (or nothing): refused before anything
  // is mounted, decrypted or written (issue 18 item 4)
  await fs.checkStableLink(manifest.symlinkPath, manifest.secretsMountPoint)
  await step(environment, "validated")

  // One install of a secret filesystem at a time (issue 17): a boot-time unit and a manual
  // run take turns. The lock is held until the units are notified; a dry run reads only.
  const lock = dryRun
    ? undefined
    : await fs.lockInstall(manifest.secretsMountPoint, {
        timeoutMs: options.lockTimeoutMs ?? DEFAULT_LOCK_TIMEOUT_MS,
        note: (line) => {
          log.warn(line)
        },
      })
  try {
    if (lock !== undefined) await step(environment, "locked")
    return await installLocked(phase, manifest, options, environment, failures, {
      base,
      dryRun,
      keysGid,
      ownerOf,
      accounts,
      decryptions,
    })
  } finally {
    await lock?.release()
  }
}

/** What `installPhase` worked out before taking the lock. */
interface PhaseContext {
  readonly base: {
    readonly phase: "regular" | "users"
    readonly mountPoint: string
    readonly symlinkPath: string
  }
  readonly dryRun: boolean
  readonly keysGid: number
  readonly ownerOf: (spec: OwnershipSpec) => Outcome<Ownership>
  readonly accounts: Accounts
  readonly decryptions: Map<string, number>
}

/** The install of one phase, with its lock held (or a dry run). */
async function installLocked(
  phase: "regular" | "users",
  manifest: Manifest,
  options: InstallOptions,
  environment: InstallEnvironment,
  failures: InstallFailure[],
  context: PhaseContext,
): Promise<PhaseReport> {
  const { fs, log } = environment
  const { base, dryRun, keysGid, ownerOf, accounts, decryptions } = context

  // 2. Keys, then each source file decrypted once.
  let keys: HostKeys | undefined
  let mountedFsType: string | undefined
  /** Per secret name, its value or why it has none. */
  const values = new Map<string, Outcome<Uint8Array>>()
  if (manifest.secrets.length > 0) {
    // spec (step 5): the keyring made from sshKeyPaths lives under the mount point, so
    // mount first (a dry run mounts nothing and uses the mount point only if it is in RAM)
    const mountPoint = manifest.secretsMountPoint
    let keyringParent: string | undefined
    if (manifest.sshKeyPaths.length > 0 && !dryRun) {
      mountedFsType = await prepareMount(manifest, options, keysGid, environment)
      await removeLeftoverKeyrings(manifest, environment)
      keyringParent = mountPoint
    } else if (manifest.sshKeyPaths.length > 0 && (await fs.exists(mountPoint))) {
      const inRam = MEMORY_FS_TYPES.has((await fs.mountState(mountPoint)).fsType)
      keyringParent = inRam ? mountPoint : undefined
    }
    keys = await loadHostKeys(manifest, {
      env: environment.env,
      readFile: async (path) => ((await fs.exists(path)) ? fs.readFile(path) : undefined),
      keyring:
        keyringParent === undefined
          ? undefined
          : {
              parent: keyringParent,
              createDirectory: (path) =>
                fs.createDirectory(path, process.getuid?.() ?? 0, process.getgid?.() ?? 0, 0o700),
              removeTree: (path) => fs.removeTree(path),
            },
    })
    try {
      await step(environment, "keys-loaded")
      for (const warning of keys.warnings) log.warn(warning)
      if (manifest.logging.keyImport) for (const line of keys.imported) log.note(line)
      const requests = sourceRequests(manifest, "decrypt")
      for (const r of requests) decryptions.set(r.path, (decryptions.get(r.path) ?? 0) + 1)
      const { results, stopped } = await openSources(
        requests,
        keys.material,
        options.sourceLimits ?? defaultSourceLimits,
      )
      for (const program of stopped) {
        log.warn(`killed ${program}, which a source that ran out of time had started`)
      }
      requests.forEach((request, i) => {
        const result = results[i] as SourceResult
        if (!result.ok) {
          log.warn(
            `${request.format === "age" ? "age" : "sops"} file "${request.path}": ${result.reason}`,
          )
        }
        for (const { name } of request.secrets) {
          const value = !result.ok
            ? {
                ok: false as const,
                reason: `"${request.path}" could not be decrypted: ${result.reason}`,
              }
            : (result.values.find((v) => v.name === name)?.outcome ?? {
                ok: false as const,
                reason: "its file gave no value",
              })
          values.set(
            name,
            value.ok || !result.ok
              ? value
              : { ok: false, reason: `${value.reason} in "${request.path}"` },
          )
        }
      })
    } finally {
      // the temporary keyring (secret keys) goes as soon as decryption is over
      for (const warning of await keys.close()) log.warn(warning)
    }
  }
  await step(environment, "decrypted")

  const planSecretOf = (secret: SecretSpec, value: Outcome<Uint8Array>): PlanSecret => ({
    name: secret.name,
    mode: secret.mode,
    link: linkOf(secret),
    restartUnits: restartUnitsOf(secret),
    reloadUnits: secret.reloadUnits,
    owner: ownerOf(secret),
    value,
  })
  const planSecrets: PlanSecret[] = manifest.secrets.map((secret) =>
    planSecretOf(
      secret,
      values.get(secret.name) ?? { ok: false, reason: "its file was not decrypted" },
    ),
  )
  const planTemplates: PlanTemplate[] = []
  for (const template of manifest.templates) {
    planTemplates.push({
      name: template.name,
      mode: template.mode,
      link: template.path !== template.defaultPath ? template.path : undefined,
      restartUnits: restartUnitsOf(template),
      reloadUnits: template.reloadUnits,
      owner: ownerOf(template),
      text: await templateText(template, ownerOf(template), accounts, fs),
    })
  }

  // 3. The previous generation, through the stable symlink.
  const current = await currentGeneration(manifest, fs)
  const previous: ReadonlyMap<string, GenerationEntry> | undefined =
    current === undefined ? undefined : await fs.readGeneration(generationDir(manifest, current))
  const firstInstall = !(await fs.exists(manifest.symlinkPath))

  // 4. The plan.
  const plan = planGeneration({
    secrets: planSecrets,
    templates: planTemplates,
    placeholderBySecretName: manifest.placeholderBySecretName,
    symlinkPath: manifest.symlinkPath,
    keysGid,
    // spec (step 11): no symlink yet means first install since boot: nothing to restart
    previous: firstInstall ? undefined : (previous ?? new Map()),
  })
  for (const warning of plan.warnings) log.warn(warning)
  for (const failure of plan.failures) {
    failures.push({ phase, ...failure })
    log.warn(
      `${failure.kind} "${failure.name}" could not be installed: ${failure.reason}${failure.kept ? " (keeping its previous content)" : ""}`,
    )
  }
  const newGeneration = (current ?? 0) + 1

  if (dryRun) {
    log.note(
      `dry run: would write generation ${String(newGeneration)} in "${manifest.secretsMountPoint}" with ${String(plan.files.length)} file(s)`,
    )
    if (manifest.logging.secretChanges)
      for (const line of describeChanges(plan, true)) log.note(line)
    return {
      ...base,
      generation: undefined,
      fsType: undefined,
      plan,
      decryptions,
      restarted: [],
      reloaded: [],
    }
  }

  // 5. The secret filesystem.
  let fsType = mountedFsType
  if (fsType === undefined) {
    fsType = await prepareMount(manifest, options, keysGid, environment)
    await removeLeftoverKeyrings(manifest, environment)
  }
  await step(environment, "mounted")

  // 6. Generation N+1, complete before anyone can see it.
  const dir = generationDir(manifest, newGeneration)
  if (await fs.exists(dir)) await fs.removeTree(dir) // a leftover of a crash or a dry run
  const ownerUid = manifest.userMode ? (process.getuid?.() ?? 0) : 0
  const ownerGid = manifest.userMode ? (process.getgid?.() ?? 0) : keysGid
  await fs.createDirectory(dir, ownerUid, ownerGid, 0o751)
  await step(environment, "generation-created")
  for (const d of plan.directories) {
    await fs.createDirectory(
      `${dir}/${d.path}`,
      ownerUid,
      manifest.userMode ? ownerGid : d.gid,
      d.mode,
    )
  }
  // Files are independent (their directories exist): write a few at a time. The
  // generation is invisible until the switch, so the order does not matter.
  let next = 0
  const writer = async (): Promise<void> => {
    for (let file = plan.files[next++]; file !== undefined; file = plan.files[next++]) {
      const uid = manifest.userMode ? ownerUid : file.uid
      const gid = manifest.userMode ? ownerGid : file.gid
      await fs.writeNewFile(`${dir}/${file.path}`, file.content, uid, gid, file.mode)
      await step(environment, "file-written")
    }
  }
  await Promise.all(Array.from({ length: Math.min(WRITERS, plan.files.length) }, writer))
  for (const d of [...plan.directories].reverse()) await fs.syncDirectory(`${dir}/${d.path}`)
  await fs.syncDirectory(dir)
  await fs.syncDirectory(manifest.secretsMountPoint)
  await step(environment, "generation-written")

  // 7. Publish: one rename.
  await fs.switchSymlink(manifest.symlinkPath, dir, manifest.secretsMountPoint)
  await step(environment, "switched")
  // Only links coffer made are replaced (issue 18 item 4): those it recorded since the
  // secret filesystem was made, and those into the stable path (it or sops-nix made them).
  const made = await fs.readLinkRecord(manifest.secretsMountPoint)
  const record = new Map(made)
  for (const link of plan.links) {
    try {
      await fs.placeSymlink({
        path: link.path,
        target: link.target,
        uid: manifest.userMode ? ownerUid : link.uid,
        gid: manifest.userMode ? ownerGid : link.gid,
        replaceable: (current) =>
          made.get(link.path) === current || isInside(normalizePath(current), manifest.symlinkPath),
      })
      record.set(link.path, link.target)
    } catch (e) {
      const reason = `its link "${link.path}" could not be placed: ${reasonOf(e)}`
      failures.push({ phase, kind: link.kind, name: link.name, reason, kept: true })
      log.warn(`${link.kind} "${link.name}": ${reason}`)
    }
  }
  if (!sameRecord(made, record)) await fs.writeLinkRecord(manifest.secretsMountPoint, record)
  await step(environment, "linked")
  await prune(manifest, newGeneration, fs)
  await step(environment, "pruned")

  if (manifest.logging.secretChanges)
    for (const line of describeChanges(plan, false)) log.note(line)
  log.note(
    `installed generation ${String(newGeneration)} at "${manifest.symlinkPath}" (${String(plan.files.length)} file(s), ${fsType})`,
  )

  // 8. Units.
  const { restarted, reloaded } = manifest.userMode
    ? { restarted: [], reloaded: [] }
    : await notifyUnits(plan, environment)
  await step(environment, "units-notified")
  return { ...base, generation: newGeneration, fsType, plan, decryptions, restarted, reloaded }
}

function isInside(path: string, dir: string): boolean {
  return path.startsWith(dir.endsWith("/") ? dir : `${dir}/`)
}

function sameRecord(a: ReadonlyMap<string, string>, b: ReadonlyMap<string, string>): boolean {
  return a.size === b.size && [...a].every(([k, v]) => b.get(k) === v)
}

/**
 * Removes keyrings an install killed during decryption left in the mount point (issue 17:
 * SIGKILL gives no chance to clean up); the lock is held, so none is in use.
 */
async function removeLeftoverKeyrings(
  manifest: Manifest,
  environment: InstallEnvironment,
): Promise<void> {
  const { fs, log } = environment
  const { removed, warnings } = await removeStaleKeyrings(
    await fs.listDirectory(manifest.secretsMountPoint),
    { parent: manifest.secretsMountPoint, removeTree: (path) => fs.removeTree(path) },
    environment.env,
  )
  for (const line of [...removed, ...warnings]) log.warn(line)
}

/** The place a custom-path link goes, when the secret's `path` is not its default. */
function linkOf(secret: SecretSpec): string | undefined {
  return secret.path === secret.defaultPath ? undefined : secret.path
}

function generationDir(manifest: Manifest, generation: number): string {
  return `${manifest.secretsMountPoint.replace(/\/+$/, "")}/${String(generation)}`
}

/**
 * The current generation: the number the stable symlink points at, when it points into the
 * mount point (step 8 of docs/host/sops-nix-manifest.md "The install, step by step").
 */
async function currentGeneration(manifest: Manifest, fs: HostFs): Promise<number | undefined> {
  const link = await fs.readSymlink(manifest.symlinkPath)
  if (link === undefined) return undefined
  const target = normalizePath(link)
  const mount = manifest.secretsMountPoint.replace(/\/+$/, "")
  if (!target.startsWith(`${mount}/`)) return undefined
  const rest = target.slice(mount.length + 1)
  return /^[1-9][0-9]{0,8}$/.test(rest) ? Number(rest) : undefined
}

async function prepareMount(
  manifest: Manifest,
  options: InstallOptions,
  keysGid: number,
  environment: InstallEnvironment,
): Promise<string> {
  const { fs, log } = environment
  const mountPoint = manifest.secretsMountPoint
  if (manifest.userMode) {
    // spec (step 4): user mode only creates the directory
    await fs.ensureDirectory(mountPoint)
  } else {
    try {
      await fs.ensureSecretFs(mountPoint, { useTmpfs: manifest.useTmpfs, gid: keysGid })
    } catch (e) {
      if (!(e instanceof SecretFsMountError) || !options.allowPersistent) throw e
      log.warn(`${e.message}; writing to the directory as it is (--allow-persistent)`)
      await fs.ensureDirectory(mountPoint)
    }
  }
  const state = await fs.mountState(mountPoint)
  if (!MEMORY_FS_TYPES.has(state.fsType)) {
    if (!options.allowPersistent) {
      throw new PersistentFsError(
        `"${mountPoint}" is on a ${state.fsType} filesystem, which keeps plaintext on disk`,
        {
          hints: [
            manifest.userMode
              ? "put the mount point on a tmpfs (%r, the runtime directory, usually is one)"
              : "run as root so coffer can mount a ramfs there",
            "--allow-persistent accepts it anyway (the secrets may then survive on disk)",
          ],
        },
      )
    }
    log.warn(
      `"${mountPoint}" is on a ${state.fsType} filesystem: plaintext may land on disk (--allow-persistent)`,
    )
  }
  return state.fsType
}

async function prune(manifest: Manifest, current: number, fs: HostFs): Promise<void> {
  for (const generation of await fs.listGenerations(manifest.secretsMountPoint)) {
    if (generation === current) continue
    // spec (step 15): keep the newest keepGenerations; 0 keeps everything. Numbers above
    // the current one are leftovers of interrupted runs and never live.
    const old = manifest.keepGenerations > 0 && generation <= current - manifest.keepGenerations
    if (old || generation > current) await fs.removeTree(generationDir(manifest, generation))
  }
}

async function notifyUnits(
  plan: GenerationPlan,
  environment: InstallEnvironment,
): Promise<{ restarted: readonly string[]; reloaded: readonly string[] }> {
  const { fs, log, env } = environment
  if (plan.restartUnits.length === 0 && plan.reloadUnits.length === 0) {
    return { restarted: [], reloaded: [] }
  }
  const viaSystemctl =
    env["SOPS_RESTART_UNITS_VIA_SYSTEMCTL"] === "1" ||
    (!(await fs.exists("/run/nixos")) && (await fs.exists("/run/systemd/system")))
  if (viaSystemctl) {
    // spec (step 11): --no-block (the installer runs ordered before other units, waiting
    // would deadlock); try-: units that are not running stay stopped
    for (const [verb, units] of [
      ["try-restart", plan.restartUnits],
      ["try-reload-or-restart", plan.reloadUnits],
    ] as const) {
      if (units.length === 0) continue
      const result = await fs.runProgram(["systemctl", "--no-block", verb, ...units])
      if (result.status !== 0) {
        log.warn(
          `systemctl ${verb} ${units.join(" ")} failed: ${result.stderr || `status ${String(result.status)}`}`,
        )
      }
    }
    return { restarted: plan.restartUnits, reloaded: plan.reloadUnits }
  }
  if (await fs.exists("/run/nixos")) {
    await fs.appendLines("/run/nixos/activation-restart-list", plan.restartUnits)
    await fs.appendLines("/run/nixos/activation-reload-list", plan.reloadUnits)
    return { restarted: plan.restartUnits, reloaded: plan.reloadUnits }
  }
  log.warn(
    `no systemd and no /run/nixos: not restarting ${[...plan.restartUnits, ...plan.reloadUnits].join(" ")}`,
  )
  return { restarted: [], reloaded: [] }
}

/**
 * Resolves a secret's owner and group to numbers (step 2 of the install): a name wins over the
 * numeric id; a name made of digits is taken as the id (upstream #514); with
 * `ignorePasswd` everything is 0:0.
 * @returns the ids, or the reason (an unknown user or group, named)
 */
export function resolveOwnership(
  spec: OwnershipSpec,
  accounts: Accounts,
  ignorePasswd: boolean,
): Outcome<Ownership> {
  if (ignorePasswd) return { ok: true, value: { uid: 0, gid: 0 } }
  let uid = spec.uid
  if (spec.owner !== null) {
    const user = accounts.users.get(spec.owner)
    const numeric = parseId(spec.owner)
    if (user !== undefined) uid = user.uid
    else if (numeric !== undefined) uid = numeric
    else
      return {
        ok: false,
        reason: new OwnerLookupError(`owner "${spec.owner}" is not a user`).message,
      }
  }
  let gid = spec.gid
  if (spec.group !== null) {
    const group = accounts.groups.get(spec.group)
    const numeric = parseId(spec.group)
    if (group !== undefined) gid = group
    else if (numeric !== undefined) gid = numeric
    else
      return {
        ok: false,
        reason: new OwnerLookupError(`group "${spec.group}" is not a group`).message,
      }
  }
  return { ok: true, value: { uid, gid } }
}

/**
 * One request per source file (each file opened once, however many secrets it feeds), in
 * the order the manifest first names them.
 */
function sourceRequests(manifest: Manifest, mode: "decrypt" | "check"): SourceRequest[] {
  const byId = new Map<
    string,
    { request: SourceRequest; secrets: SourceRequest["secrets"][number][] }
  >()
  for (const secret of manifest.secrets) {
    const id = `${secret.format === "age" ? "age" : "sops"}\0${secret.sopsFile}`
    let entry = byId.get(id)
    if (entry === undefined) {
      const secrets: { name: string; key: string }[] = []
      entry = {
        request: { path: secret.sopsFile, format: secret.format, mode, secrets },
        secrets,
      }
      byId.set(id, entry)
    }
    entry.secrets.push({ name: secret.name, key: secret.key })
  }
  return [...byId.values()].map((e) => e.request)
}

/** Template files larger than this are refused (they are configuration, not data). */
const MAX_TEMPLATE_BYTES = 16 * 1024 * 1024

/**
 * A template's text: its `content`, or its `file`, read only when everyone who may read the
 * rendered file could read the template file themselves (issue 18 item 4: root reads it,
 * so a `file` naming /etc/shadow would otherwise be copied out to the template's owner).
 */
async function templateText(
  template: TemplateSpec,
  owner: Outcome<Ownership>,
  accounts: Accounts,
  fs: HostFs,
): Promise<Outcome<string>> {
  if (template.content !== "") return { ok: true, value: template.content }
  if (template.file === null)
    return { ok: false, reason: "the template has neither content nor file" }
  if (!owner.ok) return { ok: false, reason: owner.reason }
  let file: StatedFile
  try {
    file = await fs.readStatedFile(template.file, MAX_TEMPLATE_BYTES)
  } catch (e) {
    return { ok: false, reason: `template file "${template.file}" cannot be read: ${reasonOf(e)}` }
  }
  const { uid, gid } = owner.value
  const readers: { who: string; uid: number; gids: ReadonlySet<number> }[] = [
    { who: template.owner ?? `uid ${String(uid)}`, uid, gids: gidsOf(uid, accounts) },
  ]
  if ((template.mode & 0o040) !== 0) {
    // every member of the rendered file's group may read it: judge as an unnamed member
    readers.push({ who: `group ${template.group ?? String(gid)}`, uid: -1, gids: new Set([gid]) })
  }
  for (const reader of readers) {
    if (!canRead(file, reader)) {
      file.content.fill(0)
      return {
        ok: false,
        reason: `template file "${template.file}" is not readable by ${reader.who}, who may read the rendered file (it is ${octalMode(file.mode)}, owned by ${String(file.uid)}:${String(file.gid)})`,
      }
    }
  }
  return { ok: true, value: Buffer.from(file.content).toString("utf8") }
}

/** Every gid a user has: the primary one from `/etc/passwd` and the `/etc/group` memberships. */
function gidsOf(uid: number, accounts: Accounts): Set<number> {
  const gids = new Set<number>()
  for (const [name, user] of accounts.users) {
    if (user.uid !== uid) continue
    gids.add(user.gid)
    for (const [gid, members] of accounts.members) if (members.includes(name)) gids.add(gid)
  }
  return gids
}

function octalMode(mode: number): string {
  return `0${(mode & 0o777).toString(8).padStart(3, "0")}`
}

/**
 * `--check-mode=sopsfile` ("Checks at build time"): every source file is read as ciphertext and
 * parsed (on a worker, within the per-source limits); every key must exist in its file's
 * (plaintext) key structure. No decryption.
 * @throws SecretSourceError listing every problem
 */
async function checkSourceFiles(manifest: Manifest, limits: SourceLimits): Promise<void> {
  const problems: string[] = []
  const requests = sourceRequests(manifest, "check")
  const noKeys = { ageSshKeyPaths: [], ageKeyFile: null, files: new Map(), gpg: undefined }
  const { results } = await openSources(requests, noKeys, limits)
  requests.forEach((request, i) => {
    const result = results[i] as SourceResult
    if (!result.ok) {
      // the secrets that read the file, then the file (as sops-nix's check names them)
      const names = request.secrets.map((s) => `secret "${s.name}"`).join(", ")
      problems.push(
        request.format === "age"
          ? `${names}: "${request.path}" ${result.reason}`
          : `${names}: "${request.path}": ${result.reason}`,
      )
      return
    }
    for (const { name, outcome } of result.values) {
      if (!outcome.ok) problems.push(`secret "${name}": ${outcome.reason} in "${request.path}"`)
    }
  })
  if (problems.length > 0) {
    throw new SecretSourceError(
      `${String(problems.length)} problem${problems.length === 1 ? "" : "s"} in the sops files: ${problems.join("; ")}`,
      { hints: ["nothing was decrypted or installed (check mode)"] },
    )
  }
}
