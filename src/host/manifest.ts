/**
 * The host manifest: sops-nix's `sops-install-secrets` JSON (docs/host/sops-nix-manifest.md
 * "The manifest": every top-level, secret and template field) plus coffer's additions
 * (docs/manifest.md): age-file secrets in the agenix style (`format: "age"`, docs/agenix.md
 * "The NixOS module", "The activation") and per-secret delivery as a systemd credential (`credential`,
 * docs/systemd.md "Delivering secrets as credentials").
 *
 * Pure: `parseManifest` maps JSON text to a readonly, fully defaulted `Manifest`, or throws
 * one `ManifestError` listing every problem (static checks only: owners are looked up by
 * the installer at run time, docs/host/sops-nix-manifest.md "The install, step by step"
 * step 2). Validation is stricter than sops-install-secrets where sops-nix relies on the
 * Nix module (formats, owner/uid) or does not check at all (hostile names, duplicate paths,
 * world-readable modes).
 */
import { isAbsolute, posix } from "node:path"
import { ManifestError, type ManifestProblem } from "./errors.js"
import { findPlaceholders } from "./template.js"
import { checkTailscaleSection, type TailscaleSpec } from "./manifest-tailscale.js"

export type { TailscaleSpec } from "./manifest-tailscale.js"

/** How a secret's source file is read: the sops stores, or a whole age file (coffer). */
export type SecretFormat = "yaml" | "json" | "binary" | "dotenv" | "ini" | "age"

/**
 * Every format a manifest may name (docs/host/sops-nix-manifest.md "Secret entries", plus
 * `age`).
 */
export const secretFormats: readonly SecretFormat[] = [
  "yaml",
  "json",
  "binary",
  "dotenv",
  "ini",
  "age",
]

/** coffer: deliver a secret or template to systemd units as a credential (`LoadCredential=`). */
export interface CredentialSpec {
  /** The credential ID the units see under `$CREDENTIALS_DIRECTORY` (no `/` or `:`). */
  readonly name: string
  /** The `.service` units that load it; each gets a drop-in. */
  readonly units: readonly string[]
  /** If set, `Environment=<this>=%d/<name>` is added to each unit. */
  readonly environment: string | null
}

/**
 * Who owns an installed file (docs/host/sops-nix-manifest.md "Per-secret options"): a name
 * wins over the numeric id.
 */
export interface OwnershipSpec {
  /** The mode as a number (parsed from the octal string), at most 0o777 and never o+r/o+w. */
  readonly mode: number
  readonly owner: string | null
  readonly uid: number
  readonly group: string | null
  readonly gid: number
}

/**
 * One secret of the manifest (docs/host/sops-nix-manifest.md "Secret entries"), defaults
 * filled in.
 */
export interface SecretSpec extends OwnershipSpec {
  readonly kind: "secret"
  /** The file name inside the generation; `/` makes sub-directories. Never absolute or `..`. */
  readonly name: string
  /**
   * The `/`-separated path in the decrypted document; `""` is the whole file (always `""`
   * for binary, dotenv, ini and age).
   */
  readonly key: string
  /** Where the secret appears; a symlink is made there when it differs from `defaultPath`. */
  readonly path: string
  /** `<symlinkPath>/<name>` of the secret's phase: where the secret really is. */
  readonly defaultPath: string
  readonly format: SecretFormat
  /** The encrypted source file (a sops file, or an age file for `format: "age"`). */
  readonly sopsFile: string
  readonly restartUnits: readonly string[]
  readonly reloadUnits: readonly string[]
  /**
   * Installed in the users phase, before users exist (root-owned,
   * docs/host/sops-nix-manifest.md "Secrets for users").
   */
  readonly neededForUsers: boolean
  readonly credential: CredentialSpec | null
}

/**
 * One template (docs/host/sops-nix-manifest.md "Template entries"), rendered under
 * `<generation>/rendered/<name>`.
 */
export interface TemplateSpec extends OwnershipSpec {
  readonly kind: "template"
  readonly name: string
  /** The template text with placeholders; when empty, `file` is read instead. */
  readonly content: string
  /** A template file, read at install time when `content` is empty. */
  readonly file: string | null
  readonly path: string
  /** `<symlinkPath>/rendered/<name>`. */
  readonly defaultPath: string
  readonly restartUnits: readonly string[]
  readonly reloadUnits: readonly string[]
  readonly credential: CredentialSpec | null
}

/** What the installer logs (docs/host/sops-nix-manifest.md "Top-level fields" `logging`). */
export interface LoggingSpec {
  readonly keyImport: boolean
  readonly secretChanges: boolean
}

/** A validated manifest (docs/host/sops-nix-manifest.md "Top-level fields"), defaults filled in. */
export interface Manifest {
  readonly secrets: readonly SecretSpec[]
  readonly templates: readonly TemplateSpec[]
  /**
   * Secret name → placeholder string; may name secrets of another manifest
   * (docs/host/sops-nix-manifest.md "Secrets for users").
   */
  readonly placeholderBySecretName: ReadonlyMap<string, string>
  /** Where generations live (`/run/secrets.d`). */
  readonly secretsMountPoint: string
  /** The stable link to the current generation (`/run/secrets`). */
  readonly symlinkPath: string
  /** coffer: mount point of the users phase in a mixed manifest (`/run/secrets-for-users.d`). */
  readonly usersSecretsMountPoint: string
  /** coffer: link of the users phase in a mixed manifest (`/run/secrets-for-users`). */
  readonly usersSymlinkPath: string
  /** Generations kept; `0` turns pruning off. */
  readonly keepGenerations: number
  readonly gnupgHome: string | null
  /** RSA SSH keys turned into OpenPGP keys. */
  readonly sshKeyPaths: readonly string[]
  readonly ageKeyFile: string | null
  /** SSH keys used as age identities (native ssh-ed25519 and converted X25519). */
  readonly ageSshKeyPaths: readonly string[]
  readonly useTmpfs: boolean
  /** home-manager mode: no mount, no chown, no restarts; `%r` is the runtime directory. */
  readonly userMode: boolean
  readonly logging: LoggingSpec
  /**
   * coffer: the Tailscale join (docs/manifest.md "Tailscale join"), or null. Its key secret
   * restarts `tailscale.unit` when it changes (the unit is added to its `restartUnits`).
   */
  readonly tailscale: TailscaleSpec | null
}

/** The two install phases of a manifest (see `manifestPhases`). */
export interface ManifestPhases {
  /** Secrets without `neededForUsers`, and every template; null if there are none. */
  readonly regular: Manifest | null
  /** `neededForUsers` secrets, with the users mount point and link; null if there are none. */
  readonly users: Manifest | null
}

const topLevelFields = new Set([
  "secrets",
  "templates",
  "placeholderBySecretName",
  "secretsMountPoint",
  "symlinkPath",
  "usersSecretsMountPoint",
  "usersSymlinkPath",
  "keepGenerations",
  "gnupgHome",
  "sshKeyPaths",
  "ageKeyFile",
  "ageSshKeyPaths",
  "useTmpfs",
  "userMode",
  "logging",
  "tailscale",
])

// The Nix module serialises the whole submodule: `sopsFileHash` and `neededForUsers` are
// in real manifests (docs/host/sops-nix-manifest.md "Secret entries"), `uid`/`gid` may be null.
const secretFields = new Set([
  "name",
  "key",
  "path",
  "format",
  "mode",
  "owner",
  "uid",
  "group",
  "gid",
  "sopsFile",
  "sopsFileHash",
  "restartUnits",
  "reloadUnits",
  "neededForUsers",
  "credential",
])

const templateFields = new Set([
  "name",
  "content",
  "file",
  "path",
  "mode",
  "owner",
  "uid",
  "group",
  "gid",
  "restartUnits",
  "reloadUnits",
  "credential",
])

const credentialFields = new Set(["name", "units", "environment"])

/** systemd unit types (systemd.unit(5)). */
const unitSuffixes = [
  "service",
  "socket",
  "device",
  "mount",
  "automount",
  "swap",
  "target",
  "path",
  "timer",
  "slice",
  "scope",
]

/**
 * Whether `name` is a valid systemd unit name: `[A-Za-z0-9:_.\-@]` (and `\` escapes), a
 * known type suffix, at most 255 characters.
 * @param name a unit name such as `nginx.service` or `getty@tty1.service`
 */
export function isValidUnitName(name: string): boolean {
  if (name.length === 0 || name.length > 255) return false
  const dot = name.lastIndexOf(".")
  if (dot <= 0) return false
  if (!unitSuffixes.includes(name.slice(dot + 1))) return false
  return /^[A-Za-z0-9:_.\\@-]+$/.test(name.slice(0, dot))
}

/**
 * Whether `name` is usable as a credential ID: a plain file name that is also a valid
 * file-descriptor name (docs/systemd.md "Credentials": no `/`, no `:`), limited here to a
 * portable set.
 */
export function isValidCredentialName(name: string): boolean {
  return name.length <= 255 && /^[A-Za-z0-9_@+-][A-Za-z0-9_.@+-]*$/.test(name)
}

/**
 * The units to act on when an entry's content changes: `restartUnits` plus the units that
 * load it as a credential (credentials are copied at start, docs/systemd.md "Delivering
 * secrets as credentials", step 2).
 */
export function restartUnitsOf(entry: SecretSpec | TemplateSpec): readonly string[] {
  const units = [...entry.restartUnits]
  for (const unit of entry.credential?.units ?? []) if (!units.includes(unit)) units.push(unit)
  return units
}

/**
 * Parses and validates a manifest.
 * @param text the manifest's JSON text
 * @param source the manifest's path, for messages
 * @param opts.warn called once per ignored unknown field (a likely typo)
 * @returns the manifest with every default filled in
 * @throws ManifestError listing every problem found
 */
export function parseManifest(
  text: string,
  source: string,
  opts: { warn?: (message: string) => void } = {},
): Manifest {
  let value: unknown
  try {
    value = JSON.parse(text)
  } catch (cause) {
    const detail = cause instanceof SyntaxError ? `: ${cause.message}` : ""
    throw new ManifestError(
      `manifest ${JSON.stringify(source)} is not valid JSON${detail}`,
      [{ subject: "manifest", field: "", message: `not valid JSON${detail}` }],
      { hints: ["a manifest is the JSON file sops-nix writes (manifest.json)"], cause },
    )
  }
  return validateManifest(value, source, opts)
}

/**
 * Validates a manifest already parsed from JSON. See `parseManifest`.
 * @throws ManifestError listing every problem found
 */
export function validateManifest(
  value: unknown,
  source: string,
  opts: { warn?: (message: string) => void } = {},
): Manifest {
  const checker = new Checker(opts.warn ?? (() => undefined))
  const manifest = checker.manifest(value)
  if (checker.problems.length > 0 || manifest === null) {
    const problems = checker.problems
    const listed = problems.map((p) => `${p.subject}: ${p.message}`).join("; ")
    const message =
      problems.length === 1
        ? `manifest ${JSON.stringify(source)}: ${listed}`
        : `manifest ${JSON.stringify(source)} has ${problems.length} problems: ${listed}`
    throw new ManifestError(message, problems, {
      hints: [
        "nothing was installed: fix the manifest (or the Nix options it came from) and run again",
      ],
    })
  }
  return manifest
}

/**
 * Splits a manifest into its install phases. A manifest whose secrets all have
 * `neededForUsers` and that has no templates is a sops-nix users manifest: it is the users
 * phase as it is. Otherwise the `neededForUsers` secrets move to a users phase that uses
 * `usersSecretsMountPoint` and `usersSymlinkPath` (docs/manifest.md "Phases").
 * @returns the regular and the users phase, each null when empty
 */
export function manifestPhases(manifest: Manifest): ManifestPhases {
  const users = manifest.secrets.filter((s) => s.neededForUsers)
  if (users.length === 0) return { regular: manifest, users: null }
  if (users.length === manifest.secrets.length && manifest.templates.length === 0) {
    return { regular: null, users: manifest }
  }
  const regularSecrets = manifest.secrets.filter((s) => !s.neededForUsers)
  return {
    regular:
      regularSecrets.length === 0 && manifest.templates.length === 0
        ? null
        : { ...manifest, secrets: regularSecrets },
    users: {
      ...manifest,
      secrets: users,
      templates: [],
      secretsMountPoint: manifest.usersSecretsMountPoint,
      symlinkPath: manifest.usersSymlinkPath,
    },
  }
}

/**
 * Expands `%r` (the runtime directory) and `%%` in every path of a `userMode` manifest, as
 * sops-install-secrets does in user mode (docs/host/sops-nix-manifest.md "home-manager",
 * "The install, step by step" step 1).
 * @param runtimeDir `$XDG_RUNTIME_DIR` (Linux)
 * @returns the manifest with expanded paths (unchanged when not in user mode)
 */
export function expandRuntimeDir(manifest: Manifest, runtimeDir: string): Manifest {
  if (!manifest.userMode) return manifest
  const expand = (path: string): string =>
    path.replace(/%[%r]/g, (m) => (m === "%%" ? "%" : runtimeDir))
  return {
    ...manifest,
    secretsMountPoint: expand(manifest.secretsMountPoint),
    symlinkPath: expand(manifest.symlinkPath),
    secrets: manifest.secrets.map((s) => ({
      ...s,
      path: expand(s.path),
      defaultPath: expand(s.defaultPath),
    })),
    templates: manifest.templates.map((t) => ({
      ...t,
      path: expand(t.path),
      defaultPath: expand(t.defaultPath),
    })),
  }
}

type Json = Readonly<Record<string, unknown>>

/** The Tailscale key secret restarts the join unit when it changes (docs/manifest.md). */
function withRestartUnit(secrets: SecretSpec[], tailscale: TailscaleSpec): SecretSpec[] {
  const keySecret = tailscale.authKeySecret ?? tailscale.oauthClientSecret
  return secrets.map((s) =>
    s.name === keySecret && !s.restartUnits.includes(tailscale.unit)
      ? { ...s, restartUnits: [...s.restartUnits, tailscale.unit] }
      : s,
  )
}

function isObject(value: unknown): value is Json {
  return typeof value === "object" && value !== null && !Array.isArray(value)
}

function quote(value: unknown): string {
  const text = JSON.stringify(value) as string | undefined
  return text === undefined ? String(value) : text.length > 80 ? `${text.slice(0, 77)}...` : text
}

/** Why a secret or template name is unsafe, or null (issue 5 "Safety"). */
function nameProblem(name: string): string | null {
  if (name === "") return "is empty"
  if (name.startsWith("/")) return "is absolute"
  if (name.includes("\0")) return "contains a NUL byte"
  if (/[\n\r]/.test(name)) return "contains a line break"
  const segments = name.split("/")
  if (segments.includes("..")) return 'contains a ".." segment'
  if (segments.includes(".")) return 'contains a "." segment'
  if (segments.includes("")) return "has an empty segment"
  return null
}

/** The path under a link: `join` without normalising (names are already checked). */
function under(root: string, name: string): string {
  return root.endsWith("/") ? `${root}${name}` : `${root}/${name}`
}

/**
 * A path in one spelling (issue 18 item 3): `//` and `/./` collapsed, no trailing `/`, so
 * that every comparison (containment, defaults, duplicates, one decryption per file) sees
 * `/run//secrets/x` and `/run/secrets/x` as the same path. `..` is refused before this.
 * @returns the normalised path (`%r/…` stays relative to the runtime directory)
 */
export function normalizePath(path: string): string {
  const normal = posix.normalize(path)
  return normal.length > 1 && normal.endsWith("/") ? normal.slice(0, -1) : normal
}

function isInside(path: string, dir: string): boolean {
  const base = dir.endsWith("/") ? dir : `${dir}/`
  return path === dir || path.startsWith(base)
}

/** Walks the JSON once, collecting problems and building the defaulted manifest. */
class Checker {
  readonly problems: ManifestProblem[] = []
  readonly #warn: (message: string) => void

  constructor(warn: (message: string) => void) {
    this.#warn = warn
  }

  problem(subject: string, field: string, message: string): void {
    this.problems.push({ subject, field, message })
  }

  unknownFields(subject: string, obj: Json, known: ReadonlySet<string>): void {
    for (const key of Object.keys(obj)) {
      if (!known.has(key)) this.#warn(`${subject}: unknown field ${quote(key)} ignored`)
    }
  }

  string(subject: string, obj: Json, field: string, fallback: string): string {
    const v = obj[field]
    if (v === undefined) return fallback
    if (typeof v !== "string") {
      this.problem(subject, field, `${field} ${quote(v)} is not a string`)
      return fallback
    }
    return v
  }

  nullableString(subject: string, obj: Json, field: string): string | null {
    const v = obj[field]
    if (v === undefined || v === null) return null
    if (typeof v !== "string") {
      this.problem(subject, field, `${field} ${quote(v)} is not a string or null`)
      return null
    }
    return v
  }

  boolean(subject: string, obj: Json, field: string, fallback: boolean): boolean {
    const v = obj[field]
    if (v === undefined) return fallback
    if (typeof v !== "boolean") {
      this.problem(subject, field, `${field} ${quote(v)} is not true or false`)
      return fallback
    }
    return v
  }

  /** A non-negative integer; null counts as 0 (the Nix side may serialise `uid = null`). */
  id(subject: string, obj: Json, field: string): number {
    const v = obj[field]
    if (v === undefined || v === null) return 0
    if (typeof v !== "number" || !Number.isSafeInteger(v) || v < 0 || v > 0xfffffffe) {
      this.problem(subject, field, `${field} ${quote(v)} is not a user or group id`)
      return 0
    }
    return v
  }

  strings(subject: string, obj: Json, field: string): string[] {
    const v = obj[field]
    if (v === undefined || v === null) return []
    if (!Array.isArray(v) || !v.every((x) => typeof x === "string")) {
      this.problem(subject, field, `${field} is not a list of strings`)
      return []
    }
    return v
  }

  /** Checks an absolute path field; @returns it normalised (`normalizePath`). */
  absolutePath(subject: string, field: string, path: string, allowRuntimeDir: boolean): string {
    if (path.includes("\0") || /[\n\r]/.test(path)) {
      this.problem(subject, field, `${field} ${quote(path)} contains a NUL byte or line break`)
    } else if (!isAbsolute(path) && !(allowRuntimeDir && path.startsWith("%r/"))) {
      this.problem(subject, field, `${field} ${quote(path)} is not an absolute path`)
    } else if (path.split("/").includes("..")) {
      this.problem(subject, field, `${field} ${quote(path)} contains a ".." segment`)
    }
    return normalizePath(path)
  }

  units(subject: string, obj: Json, field: string): string[] {
    const units = this.strings(subject, obj, field)
    for (const unit of units) {
      if (!isValidUnitName(unit)) {
        this.problem(subject, field, `${field}: ${quote(unit)} is not a systemd unit name`)
      }
    }
    return units
  }

  manifest(value: unknown): Manifest | null {
    const m = "manifest"
    if (!isObject(value)) {
      this.problem(m, "", "the top level is not a JSON object")
      return null
    }
    this.unknownFields(m, value, topLevelFields)
    const userMode = this.boolean(m, value, "userMode", false)
    const pathField = (field: string, fallback: string): string => {
      return this.absolutePath(m, field, this.string(m, value, field, fallback), userMode)
    }
    const secretsMountPoint = pathField("secretsMountPoint", "/run/secrets.d")
    const symlinkPath = pathField("symlinkPath", "/run/secrets")
    const usersSecretsMountPoint = pathField("usersSecretsMountPoint", "/run/secrets-for-users.d")
    const usersSymlinkPath = pathField("usersSymlinkPath", "/run/secrets-for-users")
    if (isInside(symlinkPath, secretsMountPoint) || isInside(secretsMountPoint, symlinkPath)) {
      this.problem(
        m,
        "symlinkPath",
        `symlinkPath ${quote(symlinkPath)} and secretsMountPoint ${quote(secretsMountPoint)} overlap`,
      )
    }
    let keepGenerations = 1
    const keep = value["keepGenerations"]
    if (keep !== undefined) {
      if (typeof keep !== "number" || !Number.isSafeInteger(keep) || keep < 0) {
        this.problem(m, "keepGenerations", `keepGenerations ${quote(keep)} is not a count`)
      } else {
        keepGenerations = keep
      }
    }
    const nullablePath = (field: string): string | null => {
      const path = this.nullableString(m, value, field)
      return path === null ? null : this.absolutePath(m, field, path, userMode)
    }
    const pathList = (field: string): string[] =>
      this.strings(m, value, field).map((p) => this.absolutePath(m, field, p, userMode))
    const gnupgHome = nullablePath("gnupgHome")
    const ageKeyFile = nullablePath("ageKeyFile")
    const sshKeyPaths = pathList("sshKeyPaths")
    const ageSshKeyPaths = pathList("ageSshKeyPaths")
    // spec: docs/host/sops-nix-manifest.md "The install, step by step" step 2, gnupgHome
    // together with sshKeyPaths or ageKeyFile is an error
    if (gnupgHome !== null && (sshKeyPaths.length > 0 || ageKeyFile !== null)) {
      this.problem(m, "gnupgHome", "gnupgHome cannot be combined with sshKeyPaths or ageKeyFile")
    }
    const useTmpfs = this.boolean(m, value, "useTmpfs", false)
    let logging: LoggingSpec = { keyImport: true, secretChanges: true }
    const log = value["logging"]
    if (log !== undefined && log !== null) {
      if (!isObject(log)) {
        this.problem(m, "logging", "logging is not an object")
      } else {
        this.unknownFields("manifest logging", log, new Set(["keyImport", "secretChanges"]))
        logging = {
          keyImport: this.boolean(m, log, "keyImport", true),
          secretChanges: this.boolean(m, log, "secretChanges", true),
        }
      }
    }

    const placeholders = this.placeholders(value["placeholderBySecretName"])
    const rawSecrets = this.list(m, value, "secrets")
    const rawTemplates = this.list(m, value, "templates")
    // A sops-nix users manifest: every secret is neededForUsers and there are no templates.
    const usersManifest =
      rawSecrets.length > 0 &&
      rawTemplates.length === 0 &&
      rawSecrets.every((s) => isObject(s) && s["neededForUsers"] === true)
    const links = {
      regular: symlinkPath,
      users: usersManifest ? symlinkPath : usersSymlinkPath,
      mounts: [secretsMountPoint, usersSecretsMountPoint],
    }
    const secrets = rawSecrets.flatMap((raw, index) => {
      const spec = this.secret(raw, index, links, userMode)
      return spec === null ? [] : [spec]
    })
    const templates = rawTemplates.flatMap((raw, index) => {
      const spec = this.template(raw, index, links, userMode)
      return spec === null ? [] : [spec]
    })

    if (
      rawSecrets.length > 0 &&
      gnupgHome === null &&
      ageKeyFile === null &&
      sshKeyPaths.length === 0 &&
      ageSshKeyPaths.length === 0
    ) {
      // sops-nix's module asserts this (docs/host/sops-nix-manifest.md "Global options").
      this.problem(
        m,
        "ageKeyFile",
        "no key source: set ageKeyFile, ageSshKeyPaths, sshKeyPaths or gnupgHome",
      )
    }
    this.crossChecks(secrets, templates, placeholders)
    const tailscale = this.tailscale(value["tailscale"], secrets)
    return {
      secrets: tailscale === null ? secrets : withRestartUnit(secrets, tailscale),
      templates,
      placeholderBySecretName: placeholders,
      secretsMountPoint,
      symlinkPath,
      usersSecretsMountPoint,
      usersSymlinkPath,
      keepGenerations,
      gnupgHome,
      sshKeyPaths,
      ageKeyFile,
      ageSshKeyPaths,
      useTmpfs,
      userMode,
      logging,
      tailscale,
    }
  }

  tailscale(raw: unknown, secrets: readonly SecretSpec[]): TailscaleSpec | null {
    if (raw === undefined || raw === null) return null
    if (!isObject(raw)) {
      this.problem("tailscale", "", "tailscale is not an object")
      return null
    }
    const paths = new Map(secrets.map((s) => [s.name, s.path]))
    return checkTailscaleSection(raw, paths, isValidUnitName, this.problems, this.#warn)
  }

  list(subject: string, obj: Json, field: string): unknown[] {
    const v = obj[field]
    if (v === undefined || v === null) return []
    if (!Array.isArray(v)) {
      this.problem(subject, field, `${field} is not a list`)
      return []
    }
    return v
  }

  placeholders(value: unknown): Map<string, string> {
    const map = new Map<string, string>()
    if (value === undefined || value === null) return map
    if (!isObject(value)) {
      this.problem(
        "manifest",
        "placeholderBySecretName",
        "placeholderBySecretName is not an object",
      )
      return map
    }
    const bySecret = new Map<string, string>()
    for (const [name, placeholder] of Object.entries(value)) {
      if (typeof placeholder !== "string" || placeholder === "") {
        this.problem(
          "manifest",
          "placeholderBySecretName",
          `placeholderBySecretName: the placeholder of ${quote(name)} is not a non-empty string`,
        )
        continue
      }
      const other = bySecret.get(placeholder)
      if (other !== undefined) {
        this.problem(
          "manifest",
          "placeholderBySecretName",
          `placeholderBySecretName: ${quote(other)} and ${quote(name)} share a placeholder`,
        )
        continue
      }
      bySecret.set(placeholder, name)
      map.set(name, placeholder)
    }
    return map
  }

  ownership(subject: string, obj: Json, forUsers: boolean): OwnershipSpec {
    const modeText = this.string(subject, obj, "mode", "0400")
    let mode = 0o400
    if (!/^[0-7]{1,4}$/.test(modeText)) {
      this.problem(subject, "mode", `mode ${quote(modeText)} is not an octal mode such as "0400"`)
    } else {
      mode = Number.parseInt(modeText, 8)
      if (mode > 0o777) {
        this.problem(subject, "mode", `mode ${quote(modeText)} sets setuid, setgid or sticky bits`)
      } else if ((mode & 0o006) !== 0) {
        // issue 5 "Safety": nothing is ever world-readable (or world-writable).
        this.problem(
          subject,
          "mode",
          `mode ${quote(modeText)} lets every user read or write the secret`,
        )
      }
    }
    const owner = this.nullableString(subject, obj, "owner")
    const group = this.nullableString(subject, obj, "group")
    const uid = this.id(subject, obj, "uid")
    const gid = this.id(subject, obj, "gid")
    if (owner === "") this.problem(subject, "owner", "owner is an empty string (use null)")
    if (group === "") this.problem(subject, "group", "group is an empty string (use null)")
    // sops-nix's module asserts: a name or a non-zero id, not both
    // (docs/host/sops-nix-manifest.md "Global options", "Templates").
    if (owner !== null && uid !== 0) {
      this.problem(subject, "owner", `owner ${quote(owner)} and uid ${uid} are both set`)
    }
    if (group !== null && gid !== 0) {
      this.problem(subject, "group", `group ${quote(group)} and gid ${gid} are both set`)
    }
    if (forUsers && ((owner !== null && owner !== "root") || uid !== 0)) {
      this.problem(
        subject,
        "owner",
        "neededForUsers secrets must be owned by root (they are installed before users exist)",
      )
    }
    return { mode, owner, uid, group, gid }
  }

  credential(subject: string, obj: Json, entryName: string): CredentialSpec | null {
    const raw = obj["credential"]
    if (raw === undefined || raw === null) return null
    if (!isObject(raw)) {
      this.problem(subject, "credential", "credential is not an object")
      return null
    }
    this.unknownFields(`${subject} credential`, raw, credentialFields)
    const fallback = entryName.replaceAll("/", "_")
    const name = this.string(subject, raw, "name", fallback)
    if (!isValidCredentialName(name)) {
      this.problem(
        subject,
        "credential.name",
        `credential.name ${quote(name)} is not a valid credential ID (letters, digits, "_.@+-", no "/" or ":")`,
      )
    }
    const units = this.strings(subject, raw, "units")
    if (units.length === 0) {
      this.problem(
        subject,
        "credential.units",
        "credential.units is empty: name the .service units that load it",
      )
    }
    for (const unit of units) {
      if (!isValidUnitName(unit) || !unit.endsWith(".service")) {
        this.problem(
          subject,
          "credential.units",
          `credential.units: ${quote(unit)} is not a .service unit name`,
        )
      }
    }
    const environment = this.nullableString(subject, raw, "environment")
    if (environment !== null && !/^[A-Za-z_][A-Za-z0-9_]*$/.test(environment)) {
      this.problem(
        subject,
        "credential.environment",
        `credential.environment ${quote(environment)} is not an environment variable name`,
      )
    }
    return { name, units, environment }
  }

  /** Checks a name; returns the subject to use in later messages. */
  entryName(
    kind: "secret" | "template",
    raw: Json,
    index: number,
  ): { name: string; subject: string } | null {
    const name = raw["name"]
    const fallbackSubject = `${kind}s[${index}]`
    if (typeof name !== "string") {
      this.problem(
        fallbackSubject,
        "name",
        name === undefined ? "name is missing" : `name ${quote(name)} is not a string`,
      )
      return null
    }
    const subject = `${kind} ${quote(name)}`
    const why = nameProblem(name)
    if (why !== null) {
      this.problem(subject, "name", `name ${why}: it must stay inside the generation directory`)
      return null
    }
    return { name, subject }
  }

  customPath(
    subject: string,
    raw: Json,
    defaultPath: string,
    links: { readonly regular: string; readonly users: string; readonly mounts: readonly string[] },
    userMode: boolean,
  ): string {
    const written = this.string(subject, raw, "path", defaultPath)
    if (written === defaultPath) return defaultPath
    const path = this.absolutePath(subject, "path", written, userMode)
    // a default path in another spelling is the default path (no link)
    if (path === defaultPath) return defaultPath
    for (const root of [links.regular, links.users, ...links.mounts]) {
      if (isInside(path, root)) {
        this.problem(
          subject,
          "path",
          `path ${quote(path)} is inside ${quote(root)}, which coffer manages`,
        )
        break
      }
    }
    return path
  }

  secret(
    raw: unknown,
    index: number,
    links: { readonly regular: string; readonly users: string; readonly mounts: readonly string[] },
    userMode: boolean,
  ): SecretSpec | null {
    if (!isObject(raw)) {
      this.problem(`secrets[${index}]`, "", "a secret is not a JSON object")
      return null
    }
    const named = this.entryName("secret", raw, index)
    if (named === null) return null
    const { name, subject } = named
    this.unknownFields(subject, raw, secretFields)
    const neededForUsers = this.boolean(subject, raw, "neededForUsers", false)
    const formatText = this.string(subject, raw, "format", "yaml")
    let format: SecretFormat = "yaml"
    if (formatText === "") {
      // spec: docs/host/sops-nix-manifest.md "Secret entries", an empty format becomes yaml
    } else if ((secretFormats as readonly string[]).includes(formatText)) {
      format = formatText as SecretFormat
    } else {
      this.problem(
        subject,
        "format",
        `format ${quote(formatText)} is unknown (use ${secretFormats.join(", ")})`,
      )
    }
    let sopsFile = this.string(subject, raw, "sopsFile", "")
    if (raw["sopsFile"] === undefined || raw["sopsFile"] === null || sopsFile === "") {
      this.problem(subject, "sopsFile", "sopsFile is missing")
    } else {
      sopsFile = this.absolutePath(subject, "sopsFile", sopsFile, userMode)
    }
    // sops-nix's module defaults the key to the attribute name; it is ignored (whole file)
    // for binary, dotenv, ini, and coffer's age files.
    const wholeFile =
      format === "binary" || format === "dotenv" || format === "ini" || format === "age"
    const key = wholeFile ? "" : this.string(subject, raw, "key", name)
    const defaultPath = under(neededForUsers ? links.users : links.regular, name)
    const path = this.customPath(subject, raw, defaultPath, links, userMode)
    return {
      kind: "secret",
      name,
      key,
      path,
      defaultPath,
      format,
      ...this.ownership(subject, raw, neededForUsers),
      sopsFile,
      restartUnits: this.units(subject, raw, "restartUnits"),
      reloadUnits: this.units(subject, raw, "reloadUnits"),
      neededForUsers,
      credential: this.credential(subject, raw, name),
    }
  }

  template(
    raw: unknown,
    index: number,
    links: { readonly regular: string; readonly users: string; readonly mounts: readonly string[] },
    userMode: boolean,
  ): TemplateSpec | null {
    if (!isObject(raw)) {
      this.problem(`templates[${index}]`, "", "a template is not a JSON object")
      return null
    }
    const named = this.entryName("template", raw, index)
    if (named === null) return null
    const { name, subject } = named
    this.unknownFields(subject, raw, templateFields)
    const content = this.string(subject, raw, "content", "")
    const rawFile = this.nullableString(subject, raw, "file")
    const file =
      rawFile !== null && rawFile !== ""
        ? this.absolutePath(subject, "file", rawFile, userMode)
        : rawFile
    if (content === "" && (file === null || file === "")) {
      // spec: docs/host/sops-nix-manifest.md "The install, step by step" step 2, a template
      // with neither content nor file is an error
      this.problem(subject, "content", "has neither content nor file")
    }
    const defaultPath = under(links.regular, `rendered/${name}`)
    const path = this.customPath(subject, raw, defaultPath, links, userMode)
    return {
      kind: "template",
      name,
      content,
      file: file === "" ? null : file,
      path,
      defaultPath,
      ...this.ownership(subject, raw, false),
      restartUnits: this.units(subject, raw, "restartUnits"),
      reloadUnits: this.units(subject, raw, "reloadUnits"),
      credential: this.credential(subject, raw, `rendered_${name}`),
    }
  }

  crossChecks(
    secrets: readonly SecretSpec[],
    templates: readonly TemplateSpec[],
    placeholders: ReadonlyMap<string, string>,
  ): void {
    // Files inside each phase's generation: a name may not repeat, nor be both a file and
    // a directory (`a` and `a/b`); templates live under `rendered/`.
    const files = new Map<string, string>()
    const claim = (phase: string, relative: string, subject: string): void => {
      const key = `${phase}:${relative}`
      const same = files.get(key)
      if (same !== undefined) {
        this.problem(subject, "name", `name collides with ${same}`)
        return
      }
      for (const [other, otherSubject] of files) {
        if (!other.startsWith(`${phase}:`)) continue
        if (key.startsWith(`${other}/`) || other.startsWith(`${key}/`)) {
          this.problem(
            subject,
            "name",
            `name collides with ${otherSubject} (a file and a directory)`,
          )
          return
        }
      }
      files.set(key, subject)
    }
    for (const s of secrets) {
      claim(s.neededForUsers ? "users" : "regular", s.name, `secret ${quote(s.name)}`)
    }
    for (const t of templates) claim("regular", `rendered/${t.name}`, `template ${quote(t.name)}`)

    // Extra symlinks: two entries may not claim the same path.
    const paths = new Map<string, string>()
    for (const entry of [...secrets, ...templates]) {
      const subject = `${entry.kind} ${quote(entry.name)}`
      const other = paths.get(entry.path)
      if (other !== undefined)
        this.problem(subject, "path", `path ${quote(entry.path)} is also the path of ${other}`)
      else paths.set(entry.path, subject)
    }

    // spec: docs/host/sops-nix-manifest.md "The install, step by step" step 2, every secret
    // naming a file declares the same format.
    const formatByFile = new Map<string, { format: SecretFormat; subject: string }>()
    for (const s of secrets) {
      if (s.sopsFile === "") continue
      const first = formatByFile.get(s.sopsFile)
      const subject = `secret ${quote(s.name)}`
      if (first === undefined) formatByFile.set(s.sopsFile, { format: s.format, subject })
      else if (first.format !== s.format) {
        this.problem(
          subject,
          "format",
          `format ${quote(s.format)} differs from ${quote(first.format)} of ${first.subject}, which reads the same sopsFile`,
        )
      }
    }

    // Credentials: one ID per unit.
    const credentialIds = new Map<string, string>()
    for (const entry of [...secrets, ...templates]) {
      if (entry.credential === null) continue
      const subject = `${entry.kind} ${quote(entry.name)}`
      for (const unit of entry.credential.units) {
        const key = `${unit}\0${entry.credential.name}`
        const other = credentialIds.get(key)
        if (other !== undefined) {
          this.problem(
            subject,
            "credential.name",
            `credential ${quote(entry.credential.name)} of unit ${quote(unit)} is also loaded from ${other}`,
          )
        } else credentialIds.set(key, subject)
      }
    }

    // Templates: every placeholder must belong to a secret this manifest installs.
    if (templates.length > 0) {
      const secretByPlaceholder = new Map<string, string>()
      for (const s of secrets) {
        const placeholder = placeholders.get(s.name)
        if (placeholder === undefined) {
          if (!s.neededForUsers) {
            this.problem(
              `secret ${quote(s.name)}`,
              "",
              "has no entry in placeholderBySecretName (needed when there are templates)",
            )
          }
        } else if (!s.neededForUsers) secretByPlaceholder.set(placeholder, s.name)
      }
      const known = new Set(placeholders.values())
      for (const t of templates) {
        for (const placeholder of findPlaceholders(t.content, known)) {
          if (secretByPlaceholder.has(placeholder)) continue
          const owner = [...placeholders].find(([, p]) => p === placeholder)?.[0]
          this.problem(
            `template ${quote(t.name)}`,
            "content",
            owner === undefined
              ? `placeholder ${quote(placeholder)} belongs to no secret`
              : `placeholder of secret ${quote(owner)}, which this manifest does not install (neededForUsers secrets cannot be used in templates)`,
          )
        }
      }
    }
  }
}
