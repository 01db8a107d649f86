/**
 * One error class per host-install failure people must tell apart
 * (docs/host/sops-nix-manifest.md "When something fails", docs/conventions.md "Errors").
 * Messages name the manifest, the secret or the unit, never a value. Two helpers write here
 * (host-core: manifest and units; host-apply: the installer): append only.
 */
import { ToolError } from "../internal/errors.js"

// --- manifest and units (helper "host-core") ---

/** One thing wrong with a manifest, found by static validation. */
export interface ManifestProblem {
  /** What the problem is about: `secret "db/password"`, `template "app.conf"`, `manifest`. */
  readonly subject: string
  /** The JSON field at fault (`mode`, `credential.name`), or `""` for the whole entry. */
  readonly field: string
  /** One lowercase line naming the field and what is wrong with it. */
  readonly message: string
}

/**
 * A manifest that is not valid JSON or breaks a rule of docs/host/sops-nix-manifest.md "The
 * manifest" or docs/manifest.md. Validation collects every problem before throwing, so one
 * run lists them all.
 */
export class ManifestError extends ToolError {
  /** Every problem found, in manifest order. */
  readonly problems: readonly ManifestProblem[]
  constructor(
    message: string,
    problems: readonly ManifestProblem[],
    opts: { hints?: readonly string[]; cause?: unknown } = {},
  ) {
    super(message, opts)
    this.problems = problems
  }
}

// --- the installer (helper "host-apply") ---

/** The secret filesystem could not be prepared (mount, generation directory, symlink). */
export class HostFsError extends ToolError {}

/**
 * A path leads through something its owner could redirect as root writes there: a symlink
 * or directory of one user leading to another user's (systemd-tmpfiles' "unsafe
 * transition"), or a component that is not a directory.
 */
export class UnsafePathError extends HostFsError {}

/** Something coffer did not make is where a link must go (a directory, a file, a foreign link). */
export class LinkInTheWayError extends HostFsError {}

/** The secret filesystem could not be mounted (not root, no ramfs, mount(8) failed). */
export class SecretFsMountError extends HostFsError {}

/** The mount point is on a filesystem that keeps data on disk, and that was not allowed. */
export class PersistentFsError extends ToolError {}

/** A secret's owner or group names a user or group that does not exist. */
export class OwnerLookupError extends ToolError {}

/** A secret's value could not be produced: its file did not decrypt, or its key is missing. */
export class SecretSourceError extends ToolError {}

/** A host key source that must work (`ageKeyFile`) could not be read. */
export class HostKeyError extends ToolError {}

/**
 * The install finished but some secrets could not be produced: they are named, the others
 * were installed, and the exit status is non-zero so the unit shows as failed.
 */
export class InstallIncompleteError extends ToolError {}

/** A template uses a placeholder whose secret has no value (it failed, or is not installed). */
export class TemplateRenderError extends ToolError {}

/** Another install of the same secret filesystem held the lock for longer than allowed. */
export class InstallLockedError extends ToolError {}
