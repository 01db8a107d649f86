/**
 * The plan of one install, computed without touching the machine (steps 7-11 of
 * docs/host/sops-nix-manifest.md "The install, step by step", and what coffer does better
 * there): from the secrets' produced values and resolved owners, the
 * templates, and the previous generation as it is on disk, it decides the new
 * generation's directories, files (path, content, owner, group, mode) and custom-path
 * symlinks, and the change set that picks the units to restart or reload.
 *
 * Differences from sops-nix, on purpose:
 * - a secret that cannot be produced fails alone: it keeps its previous file (content,
 *   owner, mode) when there is one, and every other secret is still installed;
 * - owner, group and mode changes count as changes, not only content (upstream #220);
 * - files and directories are never world-accessible: other-bits and set-id bits asked
 *   for by a mode are dropped, with a warning.
 *
 * Pure: no fs, process or clock.
 */
import { TemplateRenderError } from "./errors.js"
import { renderTemplate, secretsUsedBy } from "./template.js"

/** A value that was produced, or why it could not be. */
export type Outcome<T> =
  { readonly ok: true; readonly value: T } | { readonly ok: false; readonly reason: string }

/** A numeric owner and group. */
export interface Ownership {
  readonly uid: number
  readonly gid: number
}

/** What both secrets and templates have. */
interface PlanItemBase {
  /** The name inside the generation (templates: inside `rendered/`); may contain `/`. */
  readonly name: string
  /** The mode asked for (octal number, e.g. 0o400). */
  readonly mode: number
  /** An absolute path where a symlink to the stable path should be placed, if any. */
  readonly link: string | undefined
  readonly restartUnits: readonly string[]
  readonly reloadUnits: readonly string[]
  readonly owner: Outcome<Ownership>
}

/** A secret with its decrypted value (or why there is none). */
export interface PlanSecret extends PlanItemBase {
  readonly value: Outcome<Uint8Array>
}

/** A template with its text (placeholders not yet replaced), or why it has none. */
export interface PlanTemplate extends PlanItemBase {
  readonly text: Outcome<string>
}

/** An entry of the previous generation (as `HostFs.readGeneration` returns it). */
export type PreviousEntry =
  | {
      readonly kind: "file"
      readonly content: Uint8Array
      readonly uid: number
      readonly gid: number
      readonly mode: number
    }
  | { readonly kind: "dir"; readonly uid: number; readonly gid: number; readonly mode: number }
  | { readonly kind: "other" }

/** Everything the plan is computed from. */
export interface PlanInput {
  readonly secrets: readonly PlanSecret[]
  readonly templates: readonly PlanTemplate[]
  /**
   * Secret name → the placeholder templates use for it (docs/host/sops-nix-manifest.md
   * "Top-level fields").
   */
  readonly placeholderBySecretName: ReadonlyMap<string, string>
  /** The stable symlink (`/run/secrets`): custom-path links point under it. */
  readonly symlinkPath: string
  /** The gid owning the generation and its directories (`keys`, or 0). */
  readonly keysGid: number
  /**
   * The previous generation's entries by relative path, or undefined when there is none
   * (first install since boot: nothing to restart, as sops-nix).
   */
  readonly previous: ReadonlyMap<string, PreviousEntry> | undefined
}

/** Whether an item is a secret or a template (templates live under `rendered/`). */
export type ItemKind = "secret" | "template"

/** A directory of the new generation. */
export interface PlannedDirectory {
  /** Relative to the generation directory. */
  readonly path: string
  readonly uid: number
  readonly gid: number
  readonly mode: number
}

/** A file of the new generation. */
export interface PlannedFile {
  readonly kind: ItemKind
  readonly name: string
  /** Relative to the generation directory. */
  readonly path: string
  readonly content: Uint8Array
  readonly uid: number
  readonly gid: number
  readonly mode: number
  /** True when the item failed and this is its previous file, copied as it was. */
  readonly kept: boolean
}

/** A symlink at a secret's custom path, pointing at the stable path. */
export interface PlannedLink {
  readonly kind: ItemKind
  readonly name: string
  /** Where the link goes (absolute). */
  readonly path: string
  /** What it points at: `<symlinkPath>/<name>` (or `…/rendered/<name>`). */
  readonly target: string
  readonly uid: number
  readonly gid: number
}

/** An item that could not be produced. */
export interface PlannedFailure {
  readonly kind: ItemKind
  readonly name: string
  /** Why (never a value). */
  readonly reason: string
  /** Whether its previous file is carried over into the new generation. */
  readonly kept: boolean
}

/** What changed in an item, compared with the previous generation. */
export type ChangeAspect = "content" | "owner" | "mode"

/** A changed item. */
export interface ChangedItem {
  readonly kind: ItemKind
  readonly name: string
  readonly aspects: readonly ChangeAspect[]
}

/** A named item (added or removed). */
export interface NamedItem {
  readonly kind: ItemKind
  readonly name: string
}

/** The change set, by name, never by value. */
export interface ChangeSet {
  readonly added: readonly NamedItem[]
  readonly changed: readonly ChangedItem[]
  readonly removed: readonly NamedItem[]
}

/** The new generation and what to do about it. */
export interface GenerationPlan {
  readonly directories: readonly PlannedDirectory[]
  readonly files: readonly PlannedFile[]
  readonly links: readonly PlannedLink[]
  readonly failures: readonly PlannedFailure[]
  readonly changes: ChangeSet
  /** Units to `try-restart`, sorted, without duplicates. */
  readonly restartUnits: readonly string[]
  /** Units to `try-reload-or-restart`, sorted, without duplicates (and not also restarted). */
  readonly reloadUnits: readonly string[]
  /** Notes for the operator (modes that were narrowed). Never values. */
  readonly warnings: readonly string[]
}

/** The directory templates are rendered into (docs/host/sops-nix-manifest.md "Templates"). */
export const RENDERED_DIRECTORY = "rendered"

/** Directories of a generation: root:keys, 0751 (sops-nix PR #97: o+x, no listing). */
export const DIRECTORY_MODE = 0o751

/**
 * Why a relative name cannot be used inside a generation, or undefined when it can.
 * @param name a secret's name (`db/password`)
 * @returns a lowercase reason, or undefined
 */
export function unsafeNameReason(name: string): string | undefined {
  if (name === "") return "the name is empty"
  if (name.includes("\0")) return "the name contains a NUL byte"
  if (name.startsWith("/")) return "the name is absolute"
  for (const segment of name.split("/")) {
    if (segment === "") return "the name has an empty path segment"
    if (segment === "." || segment === "..") return `the name has a "${segment}" segment`
  }
  return undefined
}

/**
 * The mode actually used: only owner and group bits survive (no world access, no set-id or
 * sticky bits), so a secret is never world-readable whatever the manifest says.
 * @returns the narrowed mode
 */
export function safeMode(mode: number): number {
  return mode & 0o770
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false
  return true
}

function sortedUnique(items: Iterable<string>): string[] {
  return [...new Set(items)].sort()
}

function octal(mode: number): string {
  return `0${mode.toString(8).padStart(3, "0")}`
}

function pathOf(kind: ItemKind, name: string): string {
  return kind === "template" ? `${RENDERED_DIRECTORY}/${name}` : name
}

function describeKind(kind: ItemKind, name: string): string {
  return `${kind} "${name}"`
}

/**
 * Computes the new generation and the change set.
 * @param input the produced secrets and templates, the previous generation
 * @returns the plan (pure data; `apply.ts` carries it out)
 */
export function planGeneration(input: PlanInput): GenerationPlan {
  const files: PlannedFile[] = []
  const links: PlannedLink[] = []
  const failures: PlannedFailure[] = []
  const warnings: string[] = []
  const restart: string[] = []
  const reload: string[] = []
  const added: NamedItem[] = []
  const changed: ChangedItem[] = []
  const previous = input.previous
  const claimed = new Set<string>()
  const directories = new Set<string>()
  const filePaths = new Set<string>()

  // Templates see the secrets that were produced; one that uses a failed secret fails too
  // (it would otherwise ship a literal placeholder) and keeps its previous file.
  const valueBySecretName = new Map<string, Uint8Array>()
  const failedSecrets = new Set<string>()
  for (const secret of input.secrets) {
    if (secret.value.ok) valueBySecretName.set(secret.name, secret.value.value)
    else failedSecrets.add(secret.name)
  }

  type Produced =
    { readonly content: Uint8Array; readonly owner: Ownership } | { readonly reason: string }
  const items: { kind: ItemKind; item: PlanItemBase; produced: Produced }[] = []
  for (const secret of input.secrets) {
    items.push({
      kind: "secret",
      item: secret,
      produced: !secret.value.ok
        ? { reason: secret.value.reason }
        : !secret.owner.ok
          ? { reason: secret.owner.reason }
          : { content: secret.value.value, owner: secret.owner.value },
    })
  }
  for (const template of input.templates) {
    items.push({ kind: "template", item: template, produced: renderOne(template) })
  }

  function renderOne(template: PlanTemplate): Produced {
    if (!template.text.ok) return { reason: template.text.reason }
    if (!template.owner.ok) return { reason: template.owner.reason }
    const text = template.text.value
    const missing = secretsUsedBy(text, input.placeholderBySecretName).filter((n) =>
      failedSecrets.has(n),
    )
    if (missing.length > 0) {
      return {
        reason: `it uses secret${missing.length > 1 ? "s" : ""} ${missing.map((n) => `"${n}"`).join(", ")}, which could not be produced`,
      }
    }
    try {
      return {
        content: renderTemplate(
          template.name,
          text,
          input.placeholderBySecretName,
          valueBySecretName,
        ),
        owner: template.owner.value,
      }
    } catch (e) {
      if (e instanceof TemplateRenderError) return { reason: e.message }
      throw e
    }
  }

  for (const { kind, item, produced } of items) {
    const path = pathOf(kind, item.name)
    const unsafe = unsafeNameReason(item.name)
    if (unsafe !== undefined) {
      // never kept: a previous file at such a path cannot exist
      failures.push({ kind, name: item.name, reason: unsafe, kept: false })
      continue
    }
    const conflict = conflictWith(path, filePaths, directories)
    if (conflict !== undefined) {
      failures.push({ kind, name: item.name, reason: conflict, kept: false })
      continue
    }
    claimed.add(path)
    const old = previous?.get(path)
    const oldFile = old?.kind === "file" ? old : undefined
    const mode = safeMode(item.mode)
    if (mode !== item.mode) {
      warnings.push(
        `${describeKind(kind, item.name)}: mode ${octal(item.mode)} narrowed to ${octal(mode)} (secrets are never world-accessible)`,
      )
    }

    let file: PlannedFile
    if ("reason" in produced) {
      failures.push({ kind, name: item.name, reason: produced.reason, kept: oldFile !== undefined })
      if (oldFile === undefined) continue
      file = {
        kind,
        name: item.name,
        path,
        content: oldFile.content,
        uid: oldFile.uid,
        gid: oldFile.gid,
        mode: safeMode(oldFile.mode),
        kept: true,
      }
    } else {
      file = {
        kind,
        name: item.name,
        path,
        content: produced.content,
        uid: produced.owner.uid,
        gid: produced.owner.gid,
        mode,
        kept: false,
      }
      if (previous !== undefined) {
        const aspects: ChangeAspect[] = []
        if (oldFile === undefined) added.push({ kind, name: item.name })
        else {
          if (!sameBytes(oldFile.content, file.content)) aspects.push("content")
          if (oldFile.uid !== file.uid || oldFile.gid !== file.gid) aspects.push("owner")
          if ((oldFile.mode & 0o7777) !== file.mode) aspects.push("mode")
          if (aspects.length > 0) changed.push({ kind, name: item.name, aspects })
        }
        if (oldFile === undefined || aspects.length > 0) {
          restart.push(...item.restartUnits)
          reload.push(...item.reloadUnits)
        }
      }
    }
    files.push(file)
    filePaths.add(path)
    for (const dir of parentsOf(path)) directories.add(dir)
    if (item.link !== undefined) {
      links.push({
        kind,
        name: item.name,
        path: item.link,
        target: `${input.symlinkPath.replace(/\/+$/, "")}/${path}`,
        uid: file.uid,
        gid: file.gid,
      })
    }
  }

  const removed: NamedItem[] = []
  if (previous !== undefined) {
    for (const [path, entry] of previous) {
      if (entry.kind !== "file" || claimed.has(path)) continue
      removed.push(
        path.startsWith(`${RENDERED_DIRECTORY}/`)
          ? { kind: "template", name: path.slice(RENDERED_DIRECTORY.length + 1) }
          : { kind: "secret", name: path },
      )
    }
  }

  const restartUnits = sortedUnique(restart)
  const restartSet = new Set(restartUnits)
  return {
    directories: [...directories].sort().map((path) => ({
      path,
      uid: 0,
      gid: input.keysGid,
      mode: DIRECTORY_MODE,
    })),
    files,
    links,
    failures,
    changes: { added, changed, removed: removed.sort(byName) },
    restartUnits,
    // a unit that is restarted anyway needs no reload
    reloadUnits: sortedUnique(reload).filter((u) => !restartSet.has(u)),
    warnings,
  }
}

function byName(a: NamedItem, b: NamedItem): number {
  return a.kind === b.kind
    ? a.name < b.name
      ? -1
      : a.name > b.name
        ? 1
        : 0
    : a.kind < b.kind
      ? -1
      : 1
}

function parentsOf(path: string): string[] {
  const segments = path.split("/")
  const out: string[] = []
  for (let i = 1; i < segments.length; i++) out.push(segments.slice(0, i).join("/"))
  return out
}

function conflictWith(
  path: string,
  files: ReadonlySet<string>,
  directories: ReadonlySet<string>,
): string | undefined {
  if (files.has(path)) return `another secret or template already uses the path "${path}"`
  if (directories.has(path)) return `"${path}" is already a directory of other secrets`
  for (const parent of parentsOf(path)) {
    if (files.has(parent)) return `"${parent}" is already a secret, so it cannot be a directory`
  }
  return undefined
}

/**
 * The lines of a change report, by name, never by value (step 11 of
 * docs/host/sops-nix-manifest.md "The install, step by step": "adding", "modifying",
 * "removing").
 * @param plan the plan
 * @param dryRun whether to say "would add" instead of "adding"
 * @returns lines for stderr
 */
export function describeChanges(plan: GenerationPlan, dryRun: boolean): string[] {
  const lines: string[] = []
  const list = (items: readonly NamedItem[], kind: ItemKind): string =>
    items
      .filter((i) => i.kind === kind)
      .map((i) => i.name)
      .join(", ")
  const verbs: readonly [string, string, readonly NamedItem[]][] = [
    [dryRun ? "would add" : "adding", "added", plan.changes.added],
    [dryRun ? "would modify" : "modifying", "changed", plan.changes.changed],
    [dryRun ? "would remove" : "removing", "removed", plan.changes.removed],
  ]
  for (const [verb, , items] of verbs) {
    for (const kind of ["secret", "template"] as const) {
      const names = list(items, kind)
      if (names === "") continue
      const noun = kind === "secret" ? "secret(s)" : "rendered secret(s)"
      lines.push(`${verb} ${noun}: ${names}`)
    }
  }
  for (const c of plan.changes.changed) {
    lines.push(`  ${c.kind} "${c.name}": ${c.aspects.join(", ")} changed`)
  }
  if (plan.restartUnits.length > 0) {
    lines.push(`${dryRun ? "would restart" : "restarting"}: ${plan.restartUnits.join(" ")}`)
  }
  if (plan.reloadUnits.length > 0) {
    lines.push(`${dryRun ? "would reload" : "reloading"}: ${plan.reloadUnits.join(" ")}`)
  }
  return lines
}
