/**
 * `coffer install --json` (docs/cli-json.md "install"): the install's plan and outcome as
 * JSON, for programs. Names, paths, owners, modes and units only: never a value, so the
 * document is as safe to log as the text report.
 */
import type { CheckMode, InstallReport, PhaseReport } from "../host/apply.js"

/** One phase of the JSON report. */
export interface InstallPhaseJson {
  readonly phase: "regular" | "users"
  readonly mountPoint: string
  readonly symlinkPath: string
  /** The generation written; null for a dry run or a check. */
  readonly generation: number | null
  readonly fsType: string | null
  /** The new generation's files (relative paths) with owners and octal modes. */
  readonly files: readonly {
    readonly kind: "secret" | "template"
    readonly name: string
    readonly path: string
    readonly uid: number
    readonly gid: number
    readonly mode: string
    /** A failed item's previous file, carried over. */
    readonly kept: boolean
  }[]
  readonly links: readonly {
    readonly kind: "secret" | "template"
    readonly name: string
    readonly path: string
    readonly target: string
  }[]
  readonly changes: {
    readonly added: readonly { readonly kind: string; readonly name: string }[]
    readonly changed: readonly {
      readonly kind: string
      readonly name: string
      readonly aspects: readonly string[]
    }[]
    readonly removed: readonly { readonly kind: string; readonly name: string }[]
  }
  /** Units to restart and reload (a dry run: would be). */
  readonly restartUnits: readonly string[]
  readonly reloadUnits: readonly string[]
  /** Units actually restarted and reloaded (empty for a dry run). */
  readonly restarted: readonly string[]
  readonly reloaded: readonly string[]
  readonly warnings: readonly string[]
}

/** The whole JSON report. */
export interface InstallReportJson {
  readonly dryRun: boolean
  readonly checkMode: CheckMode
  readonly phases: readonly InstallPhaseJson[]
  readonly failures: readonly {
    readonly phase: "regular" | "users"
    readonly kind: "secret" | "template"
    readonly name: string
    readonly reason: string
    readonly kept: boolean
  }[]
  /** Whether every secret and template was installed (or would be). */
  readonly complete: boolean
}

function phaseJson(phase: PhaseReport): InstallPhaseJson {
  const plan = phase.plan
  return {
    phase: phase.phase,
    mountPoint: phase.mountPoint,
    symlinkPath: phase.symlinkPath,
    generation: phase.generation ?? null,
    fsType: phase.fsType ?? null,
    files: (plan?.files ?? []).map((f) => ({
      kind: f.kind,
      name: f.name,
      path: f.path,
      uid: f.uid,
      gid: f.gid,
      mode: f.mode.toString(8).padStart(4, "0"),
      kept: f.kept,
    })),
    links: (plan?.links ?? []).map((l) => ({
      kind: l.kind,
      name: l.name,
      path: l.path,
      target: l.target,
    })),
    changes: {
      added: (plan?.changes.added ?? []).map((i) => ({ kind: i.kind, name: i.name })),
      changed: (plan?.changes.changed ?? []).map((i) => ({
        kind: i.kind,
        name: i.name,
        aspects: [...i.aspects],
      })),
      removed: (plan?.changes.removed ?? []).map((i) => ({ kind: i.kind, name: i.name })),
    },
    restartUnits: [...(plan?.restartUnits ?? [])],
    reloadUnits: [...(plan?.reloadUnits ?? [])],
    restarted: [...phase.restarted],
    reloaded: [...phase.reloaded],
    warnings: [...(plan?.warnings ?? [])],
  }
}

/**
 * The JSON form of an install's report.
 * @param report what `installManifest` returned
 * @param options whether it was a dry run, and the check mode
 * @returns a plain value for `JSON.stringify`
 */
export function installReportJson(
  report: InstallReport,
  options: { readonly dryRun: boolean; readonly checkMode: CheckMode },
): InstallReportJson {
  return {
    dryRun: options.dryRun,
    checkMode: options.checkMode,
    phases: report.phases.map(phaseJson),
    failures: report.failures.map((f) => ({
      phase: f.phase,
      kind: f.kind,
      name: f.name,
      reason: f.reason,
      kept: f.kept,
    })),
    complete: report.failures.length === 0,
  }
}
