/**
 * `coffer/host`: delivering secrets to a machine (docs/library.md "coffer/host";
 * docs/host/sops-nix-manifest.md, docs/manifest.md, docs/systemd.md): the sops-nix
 * manifest parsed and validated, the systemd units it needs as text (pure), and the
 * install, planned and applied through the `HostFs` port (`systemHostFs` is the real
 * machine; it needs root for mounts and owners). `coffer install` and `coffer units` are
 * these functions behind flags.
 *
 * Only what is re-exported here is public; the modules behind it may change.
 *
 * ```ts
 * import { parseManifest, planUnits } from "coffer/host"
 * const manifest = parseManifest(await readFile("manifest.json", "utf8"), "manifest.json")
 * const units = planUnits(manifest, { cofferPath: "/usr/bin/coffer", manifestPath: "/etc/coffer/manifest.json" })
 * ```
 */

// the manifest
export {
  expandRuntimeDir,
  manifestPhases,
  parseManifest,
  restartUnitsOf,
  secretFormats,
  validateManifest,
} from "../host/manifest.js"
export type {
  CredentialSpec,
  LoggingSpec,
  Manifest,
  ManifestPhases,
  OwnershipSpec,
  SecretFormat,
  SecretSpec,
  TailscaleSpec,
  TemplateSpec,
} from "../host/manifest.js"
export { placeholderFor, renderTemplate } from "../host/template.js"

// systemd units (pure)
export {
  consumerDropInName,
  consumersOf,
  installUnitName,
  planUnits,
  usersInstallUnitName,
} from "../host/units.js"
export type {
  ConsumerSpec,
  CredentialLoad,
  UnitFile,
  UnitOptions,
  UnitPlan,
} from "../host/units.js"

// the install: plan (pure) and apply (through HostFs)
export { describeChanges, planGeneration } from "../host/plan.js"
export type {
  ChangeSet,
  ChangedItem,
  GenerationPlan,
  PlanInput,
  PlannedFailure,
  PlannedFile,
  PlannedLink,
} from "../host/plan.js"
export { DEFAULT_LOCK_TIMEOUT_MS, assertComplete, installManifest } from "../host/apply.js"
export type {
  CheckMode,
  InstallEnvironment,
  InstallFailure,
  InstallLog,
  InstallOptions,
  InstallPhase,
  InstallReport,
  PhaseReport,
} from "../host/apply.js"
export { defaultSourceLimits } from "../host/source-pool.js"
export type { SourceLimits } from "../host/source-pool.js"
export { systemHostFs } from "../host/host-fs.js"
export type { HostFs, SystemHostFsOptions } from "../host/host-fs.js"

// errors (all extend ToolError)
export {
  HostFsError,
  HostKeyError,
  InstallIncompleteError,
  InstallLockedError,
  LinkInTheWayError,
  ManifestError,
  OwnerLookupError,
  PersistentFsError,
  SecretFsMountError,
  SecretSourceError,
  TemplateRenderError,
  UnsafePathError,
} from "../host/errors.js"
export type { ManifestProblem } from "../host/errors.js"
export { InternalError, ToolError } from "../internal/errors.js"
