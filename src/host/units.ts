/**
 * The systemd units around `coffer install`, generated as text (docs/systemd.md "The install
 * unit", "Each consumer", "Delivering secrets as credentials"; docs/host/sops-nix-manifest.md
 * "Secrets for users", "How the install runs"). Pure: `planUnits` maps a manifest to files;
 * `coffer units` writes them.
 *
 * - `coffer-install-secrets.service`: oneshot + RemainAfterExit. Early-boot by default:
 *   `DefaultDependencies=no`, after local-fs, sysusers and userborn (owners exist), and
 *   `Before=sysinit.target` *with* `WantedBy=sysinit.target`, because a target only waits
 *   for the units it wants when they keep default dependencies (docs/systemd.md "Why
 *   services race their secrets": the race sops-nix PR #986 fixed). Shutdown ordering is
 *   added back by hand.
 * - `coffer-install-secrets-for-users.service`: the `neededForUsers` phase, before
 *   systemd-sysusers *and* userborn (sops-nix orders only against sysusers).
 * - `<unit>.d/coffer-secrets.conf` for every consumer (restartUnits, reloadUnits,
 *   credential units): `Requires=` (or `Wants=`) *and* `After=` the install service, plus
 *   `LoadCredential=` lines for credential delivery.
 * No `.path` units: docs/systemd.md "Each consumer" recommends them only for "optional
 * until provisioned" consumers that use `ConditionPathExists=`; coffer's consumers fail
 * loudly instead.
 */
import { manifestPhases, type Manifest, type SecretSpec, type TemplateSpec } from "./manifest.js"
import type { TailscaleSpec } from "./manifest-tailscale.js"

/** The regular install unit's name. */
export const installUnitName = "coffer-install-secrets.service"
/** The users-phase install unit's name. */
export const usersInstallUnitName = "coffer-install-secrets-for-users.service"
/** The file name of consumer drop-ins (`<unit>.d/<this>`). */
export const consumerDropInName = "coffer-secrets.conf"

/** How to generate the units. */
export interface UnitOptions {
  /** Absolute path of the coffer executable for `ExecStart=`. */
  readonly cofferPath: string
  /** Absolute path of the manifest on the host. */
  readonly manifestPath: string
  /**
   * `early` (default): `DefaultDependencies=no`, part of sysinit (for sshd, networking,
   * tailscale at boot). `late`: default dependencies, `WantedBy=multi-user.target`.
   */
  readonly stage?: "early" | "late"
  /** NixOS: also `RequiredBy=`+`Before=sysinit-reactivation.target` (sops-nix PR #871). */
  readonly nixos?: boolean
  /** How consumers depend on the installer: `requires` (default) or `wants` (run degraded). */
  readonly dependency?: "requires" | "wants"
}

/** One generated file, relative to the output directory. */
export interface UnitFile {
  /** `coffer-install-secrets.service` or `nginx.service.d/coffer-secrets.conf`. */
  readonly path: string
  readonly text: string
}

/** Every unit file for one manifest. */
export interface UnitPlan {
  readonly files: readonly UnitFile[]
  /** The install units generated (regular and/or users phase). */
  readonly installUnits: readonly string[]
  /** The consumer units that get a drop-in, sorted. */
  readonly consumers: readonly string[]
  /** The Tailscale join unit, when the manifest has a `tailscale` section. */
  readonly tailscaleUnit: string | null
}

/** One `LoadCredential=` for a consumer. */
export interface CredentialLoad {
  readonly name: string
  /** The stable path (`/run/secrets/<name>`), never a generation directory. */
  readonly path: string
  readonly environment: string | null
}

/** What a consumer's drop-in says. */
export interface ConsumerSpec {
  readonly unit: string
  /** The install units it depends on and is ordered after. */
  readonly installUnits: readonly string[]
  readonly credentials: readonly CredentialLoad[]
}

/**
 * Plans every unit file for a manifest: the install unit of each phase that has secrets or
 * templates, and one drop-in per consumer unit.
 * @returns the files (relative paths and text), the install units and the consumers
 */
export function planUnits(manifest: Manifest, opts: UnitOptions): UnitPlan {
  const phases = manifestPhases(manifest)
  const files: UnitFile[] = []
  const installUnits: string[] = []
  if (phases.users !== null) {
    files.push({ path: usersInstallUnitName, text: renderUsersInstallUnit(phases.users, opts) })
    installUnits.push(usersInstallUnitName)
  }
  if (phases.regular !== null) {
    files.push({
      path: installUnitName,
      text: renderInstallUnit(phases.regular, opts, { afterUsersPhase: phases.users !== null }),
    })
    installUnits.push(installUnitName)
  }
  const tailscale = manifest.tailscale
  const consumers = consumersOf(manifest)
  for (const consumer of consumers) {
    // The join unit orders itself after its install unit; it needs no drop-in.
    if (tailscale !== null && consumer.unit === tailscale.unit) {
      files.push({
        path: tailscale.unit,
        text: renderTailscaleUnit(tailscale, consumer.installUnits, opts),
      })
      continue
    }
    files.push({
      path: `${consumer.unit}.d/${consumerDropInName}`,
      text: renderConsumerDropIn(consumer, opts),
    })
  }
  return {
    files,
    installUnits,
    consumers: consumers.map((c) => c.unit).filter((u) => u !== tailscale?.unit),
    tailscaleUnit: tailscale?.unit ?? null,
  }
}

/** Whether a control server URL names this host itself (no network needed to reach it). */
function isLoopbackUrl(url: string | null): boolean {
  if (url === null) return false
  const host = /^[a-z]+:\/\/(\[[^\]]*\]|[^/:]*)/i.exec(url)?.[1]?.toLowerCase() ?? ""
  return host === "localhost" || host === "[::1]" || /^127\.\d+\.\d+\.\d+$/.test(host)
}

/**
 * `coffer-tailscale.service`: joins the tailnet with `coffer tailscale up --manifest`
 * (docs/tailscale.md "The unit"). Oneshot and `RemainAfterExit=yes`, so services that need
 * the tailnet can order `After=` it and it is not run again by later transactions.
 * @param installUnits the install units of its key secret (it requires and follows them)
 * @returns the unit file's text
 */
export function renderTailscaleUnit(
  tailscale: TailscaleSpec,
  installUnits: readonly string[],
  opts: UnitOptions,
): string {
  const timeoutSeconds = Math.ceil(tailscale.timeoutMs / 1000)
  const local = isLoopbackUrl(tailscale.settings.loginServer)
  const network = local
    ? ["# The control server is on this host: no network-online.target ordering."]
    : [
        "# The join talks to the control server, so it waits for the network as other network",
        "# clients do (After= and Wants= network-online.target). It is not Before=",
        "# network-online.target: it cannot both need the network and be part of bringing it",
        "# up. Services that need the tailnet order After= this unit.",
        "Wants=network-online.target",
        "After=network-online.target",
      ]
  const lines = [
    "# Generated by coffer units: joins the tailnet as the manifest declares.",
    "[Unit]",
    `Description=Join the tailnet as ${escapeSpecifiers(opts.manifestPath)} declares (coffer)`,
    // tailscaled must run; the key must be installed (a failed install: no join attempt).
    "Wants=tailscaled.service",
    `After=tailscaled.service ${installUnits.join(" ")}`,
    `Requires=${installUnits.join(" ")}`,
    ...network,
    "",
    "[Service]",
    "Type=oneshot",
    "RemainAfterExit=yes",
    `ExecStart=${commandLine([opts.cofferPath, "tailscale", "up", "--manifest", opts.manifestPath])}`,
    // coffer stops itself at the manifest's timeout; systemd's limit is only a backstop.
    `TimeoutStartSec=${String(timeoutSeconds + 30)}s`,
    // An unreachable control server (4) or a slow join (7) may pass; a refused key (5), a
    // device waiting for approval (6) or a bad manifest (2) does not: the unit stays failed.
    "Restart=on-failure",
    "RestartSec=30s",
    "RestartPreventExitStatus=2 5 6",
    // A key minted with an OAuth secret lives in this private RAM directory, 0600, and is
    // removed after the run. No key is ever in the environment.
    "RuntimeDirectory=coffer-tailscale",
    "RuntimeDirectoryMode=0700",
    "Environment=COFFER_TMPDIR=%t/coffer-tailscale",
    "UMask=0077",
    "NoNewPrivileges=yes",
    "ProtectSystem=strict",
    "ProtectHome=yes",
    "PrivateTmp=yes",
    "PrivateDevices=yes",
    "ProtectKernelTunables=yes",
    "ProtectKernelModules=yes",
    "ProtectKernelLogs=yes",
    "ProtectControlGroups=yes",
    "ProtectClock=yes",
    "ProtectHostname=yes",
    "RestrictNamespaces=yes",
    "RestrictRealtime=yes",
    "RestrictSUIDSGID=yes",
    "LockPersonality=yes",
    "SystemCallArchitectures=native",
    "RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6",
    // Reads the key secret whoever owns it; nothing else.
    "CapabilityBoundingSet=CAP_DAC_READ_SEARCH",
    "",
    "[Install]",
    "WantedBy=multi-user.target",
  ]
  return `${lines.join("\n")}\n`
}

/**
 * The consumers of a manifest: every unit named in `restartUnits`, `reloadUnits` or a
 * `credential`, with the install units it must follow and the credentials it loads.
 * @returns consumers sorted by unit name
 */
export function consumersOf(manifest: Manifest): ConsumerSpec[] {
  const phases = manifestPhases(manifest)
  const usersPhase = new Set(phases.users?.secrets ?? [])
  const byUnit = new Map<string, { installUnits: Set<string>; credentials: CredentialLoad[] }>()
  const entryOf = (unit: string): { installUnits: Set<string>; credentials: CredentialLoad[] } => {
    let entry = byUnit.get(unit)
    if (entry === undefined) {
      entry = { installUnits: new Set(), credentials: [] }
      byUnit.set(unit, entry)
    }
    return entry
  }
  const entries: readonly (SecretSpec | TemplateSpec)[] = [
    ...manifest.secrets,
    ...manifest.templates,
  ]
  for (const entry of entries) {
    const installUnit =
      entry.kind === "secret" && usersPhase.has(entry) ? usersInstallUnitName : installUnitName
    const units = [...entry.restartUnits, ...entry.reloadUnits, ...(entry.credential?.units ?? [])]
    for (const unit of units) {
      // An install unit never depends on itself.
      if (unit === installUnitName || unit === usersInstallUnitName) continue
      entryOf(unit).installUnits.add(installUnit)
    }
    if (entry.credential !== null) {
      for (const unit of entry.credential.units) {
        entryOf(unit).credentials.push({
          name: entry.credential.name,
          // The stable link, so the drop-in never needs rewriting
          // (docs/host/sops-nix-manifest.md "The install, step by step" step 14).
          path: entry.defaultPath,
          environment: entry.credential.environment,
        })
      }
    }
  }
  return [...byUnit]
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([unit, e]) => ({
      unit,
      installUnits: [...e.installUnits].sort(),
      credentials: e.credentials,
    }))
}

/**
 * The regular install unit (docs/systemd.md "The install unit").
 * @param manifest the regular phase (see `manifestPhases`)
 * @param context.afterUsersPhase order after the users-phase unit too
 * @returns the unit file's text
 */
export function renderInstallUnit(
  manifest: Manifest,
  opts: UnitOptions,
  context: { readonly afterUsersPhase?: boolean } = {},
): string {
  const early = (opts.stage ?? "early") === "early" && !manifest.userMode
  const after = early ? ["local-fs.target", "systemd-sysusers.service", "userborn.service"] : []
  if (context.afterUsersPhase === true) after.push(usersInstallUnitName)
  const before = early ? ["sysinit.target", "shutdown.target"] : []
  if (opts.nixos === true && !manifest.userMode) before.push("sysinit-reactivation.target")
  const unit = [
    "[Unit]",
    `Description=Install the secrets of ${escapeSpecifiers(opts.manifestPath)} (coffer)`,
    ...(early ? ["DefaultDependencies=no"] : []),
    ...(after.length > 0 ? [`After=${after.join(" ")}`] : []),
    ...(before.length > 0 ? [`Before=${before.join(" ")}`] : []),
    ...(early ? ["Conflicts=shutdown.target"] : []),
    ...requiresMountsFor(manifest, opts),
    "",
    "[Service]",
    "Type=oneshot",
    // Dependents ordered After= wait until it has exited, and it is not re-run by later
    // transactions (docs/systemd.md "The install unit", systemd NEWS v245).
    "RemainAfterExit=yes",
    // Nothing it creates is readable by others unless a mode says so.
    "UMask=0077",
    // As sops-nix: restart units with systemctl --no-block, and keep sops from looking for
    // keys in a home directory.
    ...(manifest.userMode ? [] : ["Environment=SOPS_RESTART_UNITS_VIA_SYSTEMCTL=1"]),
    "Environment=HOME=/var/empty",
    // `coffer install` alone installs every phase; with a users unit, this one does the rest.
    `ExecStart=${commandLine([opts.cofferPath, "install", ...(context.afterUsersPhase === true ? ["--phase", "regular"] : []), opts.manifestPath])}`,
    "",
    "[Install]",
    `WantedBy=${manifest.userMode ? "default.target" : early ? "sysinit.target" : "multi-user.target"}`,
    ...(opts.nixos === true && !manifest.userMode
      ? ["RequiredBy=sysinit-reactivation.target"]
      : []),
  ]
  return `${unit.join("\n")}\n`
}

/**
 * The users-phase install unit: before systemd-sysusers and userborn create users
 * (docs/host/sops-nix-manifest.md "Secrets for users"), owners forced to root (`--ignore-passwd`).
 * @param manifest the users phase (see `manifestPhases`)
 * @returns the unit file's text
 */
export function renderUsersInstallUnit(manifest: Manifest, opts: UnitOptions): string {
  const unit = [
    "[Unit]",
    `Description=Install the secrets needed for users from ${escapeSpecifiers(opts.manifestPath)} (coffer)`,
    "DefaultDependencies=no",
    // Not after local-fs.target: user creation does not wait for every mount. The key paths
    // are waited for through RequiresMountsFor=.
    `Before=systemd-sysusers.service userborn.service sysinit.target shutdown.target`,
    "Conflicts=shutdown.target",
    ...requiresMountsFor(manifest, opts),
    "",
    "[Service]",
    "Type=oneshot",
    "RemainAfterExit=yes",
    "UMask=0077",
    "Environment=HOME=/var/empty",
    `ExecStart=${commandLine([opts.cofferPath, "install", "--phase", "users", "--ignore-passwd", opts.manifestPath])}`,
    "",
    "[Install]",
    "WantedBy=sysinit.target systemd-sysusers.service userborn.service",
  ]
  return `${unit.join("\n")}\n`
}

/**
 * A consumer's drop-in: a requirement paired with ordering (docs/systemd.md "The install
 * unit"), and its credentials.
 * @returns the drop-in's text
 */
export function renderConsumerDropIn(consumer: ConsumerSpec, opts: UnitOptions): string {
  const dependency = (opts.dependency ?? "requires") === "requires" ? "Requires" : "Wants"
  const installUnits = consumer.installUnits.join(" ")
  const lines = [
    "# Generated by coffer units: start only after the secrets are installed.",
    "[Unit]",
    `${dependency}=${installUnits}`,
    `After=${installUnits}`,
  ]
  if (consumer.credentials.length > 0) {
    lines.push("", "[Service]")
    for (const credential of consumer.credentials) {
      // systemd copies the file into the unit's private $CREDENTIALS_DIRECTORY at start
      // (docs/systemd.md "Delivering secrets as credentials"); the secret itself can stay
      // root-only.
      lines.push(`LoadCredential=${credential.name}:${escapeSpecifiers(credential.path)}`)
      if (credential.environment !== null) {
        lines.push(`Environment=${credential.environment}=%d/${credential.name}`)
      }
    }
  }
  return `${lines.join("\n")}\n`
}

/**
 * `RequiresMountsFor=` on every path the installer reads: host keys (sops-nix PR #928),
 * source files and template files, so keys on late mounts (impermanence, ZFS) are there.
 */
function requiresMountsFor(manifest: Manifest, opts: UnitOptions): string[] {
  if (manifest.userMode) return []
  const paths = new Set<string>()
  if (manifest.ageKeyFile !== null) paths.add(manifest.ageKeyFile)
  for (const p of manifest.ageSshKeyPaths) paths.add(p)
  for (const p of manifest.sshKeyPaths) paths.add(p)
  if (manifest.gnupgHome !== null) paths.add(manifest.gnupgHome)
  paths.add(opts.manifestPath)
  for (const s of manifest.secrets) paths.add(s.sopsFile)
  for (const t of manifest.templates) if (t.file !== null) paths.add(t.file)
  // One line per path keeps diffs readable and avoids word-splitting surprises.
  return [...paths].map((p) => `RequiresMountsFor=${quoteWord(p)}`)
}

/** `%` starts a specifier in unit files (systemd.unit(5) "Specifiers"). */
function escapeSpecifiers(text: string): string {
  return text.replaceAll("%", "%%")
}

/** One word for a space-separated list setting: quoted when needed, specifiers escaped. */
function quoteWord(word: string): string {
  const escaped = escapeSpecifiers(word)
  return /^[^\s"'\\]+$/.test(escaped) ? escaped : `"${escaped.replace(/["\\]/g, "\\$&")}"`
}

/**
 * An `ExecStart=` command line (systemd.service(5) "Command lines"): words quoted when
 * needed, `%` and `$` escaped so no specifier or variable is expanded.
 */
export function commandLine(words: readonly string[]): string {
  return words.map((w) => quoteWord(w.replaceAll("$", () => "$$"))).join(" ")
}
