/**
 * The audit itself (docs/audit.md): from the parsed rules and each file's classification to
 * the identities, who can read which file, and the findings. Pure: the caller
 * (`audit/repository.ts`) reads the tree and the rules and passes them in, with the clock.
 *
 * A sops file is compared with the first creation rule that matches it, key group by key
 * group, keys by identity (`audit/keys.ts`); an age file with its `secrets.nix` entry:
 * SSH stanzas by their key tag, X25519 stanzas only by count, since an age header does not
 * say whom an X25519 stanza is for.
 */
import { join } from "node:path"
import type { AgenixRules } from "../agenix/rules.js"
import type { CreationRule, SopsConfig } from "../policy/config.js"
import { compileGoRegex, rulePathFor } from "../policy/match.js"
import type { KeyGroupRecipients } from "../sops/data-key.js"
import type { KeyGroup, OpaqueKeyType, OpaqueMasterKey } from "../sops/metadata.js"
import type { AgeFileRecord, FileRecord, SopsFileRecord } from "./classify.js"
import type { KeyRef } from "./keys.js"
import { keyRefOfOpaque, keyRefOfPgp, keyRefOfRecipient, shortKey } from "./keys.js"
import type { DeclaredKey } from "./names.js"
import type { IdentityMarker } from "./secret-patterns.js"
import { declaredNixKeys, declaredSopsKeys } from "./names.js"
import type {
  Access,
  AuditReport,
  DataKeyAge,
  FileReport,
  Finding,
  FindingClass,
  IdentityReport,
  RuleRef,
} from "./report.js"
import { AUDIT_SCHEMA, FINDING_CLASSES, LEVEL_OF } from "./report.js"

/** A `.sops.yaml` that was read and parsed. */
export interface SopsRulesInput {
  /** Relative to the audited directory (may start with `../` when found above it). */
  readonly path: string
  /** Absolute, for rule matching. */
  readonly absolutePath: string
  readonly config: SopsConfig
  /** Its text, for the anchors. */
  readonly text: string
}

/** A `secrets.nix` (or `.json`) that was read and evaluated. */
export interface AgenixRulesInput {
  /** Relative to the audited directory. */
  readonly path: string
  readonly rules: AgenixRules
  /** The Nix source, for the names of keys (empty for JSON rules). */
  readonly source: string
}

/** A rules file that could not be read. */
export interface RulesProblem {
  readonly path: string
  readonly message: string
  readonly hints: readonly string[]
  /** Which rules the file holds (an unreadable secrets.nix leaves its age files unjudged). */
  readonly rules?: "sops" | "agenix"
}

/** When a file's key was made, from git (see `audit/history.ts`). */
export interface KeyBirth {
  /** RFC 3339 time. */
  readonly createdAt: string
  readonly source: "history" | "commit"
}

/** Everything the audit looks at. */
export interface AuditInput {
  /** The audited directory, absolute. */
  readonly root: string
  readonly sops: SopsRulesInput | undefined
  readonly agenix: readonly AgenixRulesInput[]
  readonly problems: readonly RulesProblem[]
  /** Every file looked at, paths relative to the root. */
  readonly files: readonly FileRecord[]
  /** Paths of the whole tree (for "rule matches no file" in staged mode); default: `files`. */
  readonly treePaths?: readonly string[]
  /** Data-key births by path (only with `maxAgeDays`). */
  readonly births?: ReadonlyMap<string, KeyBirth>
  readonly now: Date
  readonly scope: "tree" | "staged"
  /** `--max-age`, in days. */
  readonly maxAgeDays?: number | undefined
}

/** File names that are configuration, never secrets, whatever a rule says. */
const CONFIG_NAMES = new Set([".sops.yaml", "secrets.nix", ".gitignore", ".gitattributes"])

interface MutableIdentity {
  id: string
  name: string | undefined
  group: string | undefined
  keys: KeyRef[]
  listed: boolean
}

/** Identities by key, tag and name; keys of one host (SSH key and its ssh-to-age) unite. */
class IdentityTable {
  readonly all: MutableIdentity[] = []
  readonly #byKey = new Map<string, MutableIdentity>()
  readonly #byTag = new Map<string, MutableIdentity>()
  readonly #byName = new Map<string, MutableIdentity>()

  add(key: KeyRef, name?: string, group?: string, listed = false): MutableIdentity {
    let identity =
      this.#byKey.get(key.key) ??
      (key.ageEquivalent === undefined ? undefined : this.#byKey.get(key.ageEquivalent)) ??
      (key.tag === undefined ? undefined : this.#byTag.get(key.tag)) ??
      (name === undefined ? undefined : this.#byName.get(name))
    if (identity === undefined) {
      identity = { id: "", name, group, keys: [], listed }
      this.all.push(identity)
    }
    if (identity.name === undefined && name !== undefined) identity.name = name
    if (identity.group === undefined && group !== undefined) identity.group = group
    identity.listed ||= listed
    if (!identity.keys.some((k) => k.key === key.key)) identity.keys.push(key)
    this.#byKey.set(key.key, identity)
    if (key.ageEquivalent !== undefined && !this.#byKey.has(key.ageEquivalent)) {
      this.#byKey.set(key.ageEquivalent, identity)
    }
    if (key.tag !== undefined) this.#byTag.set(key.tag, identity)
    if (identity.name !== undefined && !this.#byName.has(identity.name)) {
      this.#byName.set(identity.name, identity)
    }
    return identity
  }

  byTag(tag: string): MutableIdentity | undefined {
    return this.#byTag.get(tag)
  }

  /** An identity for an SSH stanza whose key nobody declared: known by its tag only. */
  unknownTag(type: string, tag: string): MutableIdentity {
    return (
      this.byTag(tag) ??
      this.add({
        kind: type === "ssh-rsa" ? "ssh-rsa" : "ssh-ed25519",
        key: `${type} tag:${tag}`,
        tag,
      })
    )
  }

  assignIds(): void {
    const used = new Set(this.all.map((i) => i.id).filter((id) => id !== ""))
    for (const identity of this.all) {
      if (identity.id !== "") continue
      const first = identity.keys[0]
      const base = identity.name ?? (first === undefined ? "unknown" : shortKey(first))
      let id = base
      for (let n = 2; used.has(id); n++) id = `${base}#${String(n)}`
      used.add(id)
      identity.id = id
    }
  }
}

/** The keys of a rule's group, or of a file's group, as `KeyRef`s. */
function refsOfGroup(group: KeyGroup | KeyGroupRecipients, cache: Map<string, KeyRef>): KeyRef[] {
  const refs: KeyRef[] = []
  const recipient = (text: string): KeyRef => {
    let ref = cache.get(text)
    if (ref === undefined) {
      ref = keyRefOfRecipient(text)
      cache.set(text, ref)
    }
    return ref
  }
  for (const a of group.age) refs.push(recipient(typeof a === "string" ? a : a.recipient))
  for (const p of group.pgp) refs.push(keyRefOfPgp(typeof p === "string" ? p : p.fp))
  for (const [type, keys] of Object.entries(group.opaque ?? {}) as [
    OpaqueKeyType,
    readonly OpaqueMasterKey[],
  ][]) {
    for (const key of keys) refs.push(keyRefOfOpaque(type, key))
  }
  return refs
}

/** How many groups must be opened to recover the data key. */
function neededGroups(groups: number, threshold: number): number {
  if (groups <= 1) return groups
  return threshold === 0 ? groups : Math.min(threshold, groups)
}

function plural(n: number, word: string): string {
  return `${String(n)} ${word}${n === 1 ? "" : "s"}`
}

function shellQuote(text: string): string {
  return /^[A-Za-z0-9_./@%+=:,-]+$/.test(text) ? text : `'${text.replace(/'/g, `'\\''`)}'`
}

interface CompiledRule {
  readonly rule: CreationRule
  readonly regex: RegExp | undefined
  readonly error: string | undefined
}

/**
 * Runs the audit.
 * @param input the rules, the classified files, the clock
 * @returns the report (identities, files, findings)
 */
export function auditRepository(input: AuditInput): AuditReport {
  const findings: Finding[] = []
  const add = (
    cls: FindingClass,
    path: string,
    message: string,
    fix: string | null,
    details: Record<string, unknown> = {},
  ): void => {
    findings.push({ class: cls, level: LEVEL_OF[cls], path, message, fix, details })
  }
  const table = new IdentityTable()
  const keyCache = new Map<string, KeyRef>()

  // 1. what the rules files declare and use
  const declarations: DeclaredKey[] = []
  if (input.sops !== undefined)
    declarations.push(...declaredSopsKeys(input.sops.text, input.sops.path))
  for (const agenix of input.agenix) {
    if (agenix.source !== "") declarations.push(...declaredNixKeys(agenix.source, agenix.path))
  }
  for (const d of declarations) table.add(d.key, d.name, d.group, true)
  const ruleKeys = new Set<string>()
  const sopsRules: CompiledRule[] = (input.sops?.config.creationRules ?? []).map((rule) => {
    for (const group of rule.keyGroups) {
      for (const ref of refsOfGroup(group, keyCache)) {
        table.add(ref, undefined, undefined, true)
        ruleKeys.add(ref.key)
      }
    }
    if (rule.pathRegex === "") return { rule, regex: undefined, error: undefined }
    try {
      return { rule, regex: compileGoRegex(rule.pathRegex), error: undefined }
    } catch (error) {
      return {
        rule,
        regex: undefined,
        error: error instanceof Error ? error.message : String(error),
      }
    }
  })
  const agenixEntries = input.agenix.flatMap((source) =>
    source.rules.rules.map((rule) => {
      const refs = rule.publicKeys.map((k) => {
        const ref = keyRefOfRecipient(k)
        table.add(ref, undefined, undefined, true)
        ruleKeys.add(ref.key)
        return ref
      })
      return { source, rule, refs }
    }),
  )
  const agenixByPath = new Map(agenixEntries.map((e) => [e.rule.path, e]))

  for (const problem of input.problems) {
    add("unreadable", problem.path, problem.message, null, { hints: problem.hints })
  }
  const unreadableAgenix = input.problems.filter((p) => p.rules === "agenix").map((p) => p.path)
  if (input.sops !== undefined) {
    for (const r of sopsRules) {
      if (r.error !== undefined) {
        add(
          "unreadable",
          input.sops.path,
          `creation rule ${String(r.rule.index + 1)}: ${r.error}`,
          null,
          {
            rule: r.rule.index,
          },
        )
      }
    }
  }

  const sopsPath = input.sops?.path
  const sopsRuleRef = (rule: CreationRule): RuleRef => ({
    source: "sops",
    file: sopsPath ?? ".sops.yaml",
    index: rule.index,
    line: rule.line ?? null,
    pathRegex: rule.pathRegex,
  })
  /** The first creation rule that matches a path, as sops chooses it. */
  const ruleFor = (path: string): { rule: CompiledRule; matchedPath: string } | undefined => {
    if (input.sops === undefined) return undefined
    const matchedPath = rulePathFor(join(input.root, path), input.sops.absolutePath, input.root)
    for (const r of sopsRules) {
      if (r.error !== undefined) continue
      if (r.regex === undefined || r.regex.test(matchedPath)) return { rule: r, matchedPath }
    }
    return undefined
  }
  const ruleUse = new Map<number, number>()
  // every key the files carry, so that identities have their ids before messages name them
  for (const file of input.files) {
    if (file.kind === "sops") {
      for (const g of file.metadata.keyGroups)
        for (const r of refsOfGroup(g, keyCache)) table.add(r)
    } else if (file.kind === "age") {
      for (const s of file.stanzas) if (s.tag !== undefined) table.unknownTag(s.type, s.tag)
    }
  }
  table.assignIds()

  // 2. the files
  const fileReports: FileReport[] = []
  const fileIndex = new Map<
    string,
    {
      access: Map<MutableIdentity, Access>
      report: Omit<FileReport, "access" | "findings" | "keyGroups"> & {
        keyGroups: MutableIdentity[][]
      }
    }
  >()
  const skipped: { path: string; reason: string }[] = []
  let encrypted = 0
  for (const file of input.files) {
    switch (file.kind) {
      case "skipped":
        skipped.push({ path: file.path, reason: file.reason })
        break
      case "broken":
        add(
          "unreadable",
          file.path,
          `looks like ${file.claimed === "sops" ? "a sops file" : "an age file"} but can't be read: ${file.error}`,
          null,
          { claimed: file.claimed, error: file.error },
        )
        break
      case "plain":
        auditPlain(file.path, file.size, file.markers)
        break
      case "sops":
        encrypted++
        auditSops(file)
        break
      case "age":
        encrypted++
        auditAge(file)
        break
      default: {
        const never: never = file
        throw new Error(`unknown file record ${JSON.stringify(never)}`)
      }
    }
  }

  function auditPlain(path: string, size: number, markers: readonly IdentityMarker[]): void {
    for (const marker of markers) {
      const what =
        marker.kind === "age-identity"
          ? "an age identity (AGE-SECRET-KEY-1…)"
          : marker.kind === "ssh-private-key"
            ? "an OpenSSH private key"
            : marker.kind === "pgp-private-key"
              ? "a PGP secret key block"
              : "a PEM private key"
      add(
        "identity-file",
        path,
        `holds ${what} on line ${String(marker.line)}${marker.passphraseProtected ? " (passphrase-protected)" : ""}`,
        `git rm --cached ${shellQuote(path)}`,
        { kind: marker.kind, line: marker.line, passphraseProtected: marker.passphraseProtected },
      )
    }
    const base = path.split("/").at(-1) ?? path
    if (size === 0 || CONFIG_NAMES.has(base)) return
    const agenix = agenixByPath.get(join(input.root, path))
    if (agenix !== undefined) {
      add(
        "plaintext-file",
        path,
        `is listed in ${agenix.source.path} but is not an age file`,
        agenixFix(agenix.source.path, `-e ${shellQuote(agenix.rule.name)}`),
        { rule: { source: "agenix", file: agenix.source.path, name: agenix.rule.name } },
      )
      return
    }
    if (path.endsWith(".age")) {
      add("plaintext-file", path, "is named .age but is not an age file", null, {})
      return
    }
    const match = ruleFor(path)
    if (match !== undefined && match.rule.rule.pathRegex !== "") {
      ruleUse.set(match.rule.rule.index, (ruleUse.get(match.rule.rule.index) ?? 0) + 1)
      add(
        "plaintext-file",
        path,
        `matches creation rule ${String(match.rule.rule.index + 1)} (${match.rule.rule.pathRegex}) but is not encrypted`,
        `coffer encrypt -i ${shellQuote(path)}`,
        { rule: sopsRuleRef(match.rule.rule), matchedPath: match.matchedPath },
      )
    }
  }

  function agenixFix(rulesPath: string, action: string): string {
    return rulesPath === "secrets.nix"
      ? `coffer agenix ${action}`
      : `coffer agenix --rules ${shellQuote(rulesPath)} ${action}`
  }

  function auditSops(file: SopsFileRecord): void {
    const fileGroups = file.metadata.keyGroups.map((g) => refsOfGroup(g, keyCache))
    const groupIdentities = fileGroups.map((refs) => refs.map((r) => table.add(r)))
    const access = new Map<MutableIdentity, Access>()
    const match = ruleFor(file.path)
    const threshold = file.metadata.shamirThreshold
    const shared = neededGroups(fileGroups.length, threshold) > 1
    let rule: RuleRef | null = null
    const setAccess = (identity: MutableIdentity, value: Access): void => {
      const before = access.get(identity)
      const rank: Record<Access, number> = {
        extra: 4,
        missing: 3,
        unverified: 2,
        read: 1,
        share: 0,
      }
      if (before === undefined || rank[value] > rank[before]) access.set(identity, value)
    }
    if (match === undefined) {
      for (const ids of groupIdentities)
        for (const i of ids) setAccess(i, shared ? "share" : "read")
      add(
        "unmatched-file",
        file.path,
        input.sops === undefined
          ? "is a sops file, but there is no .sops.yaml"
          : `is a sops file that no creation rule in ${input.sops.path} matches`,
        null,
        { kind: "sops" },
      )
    } else {
      const r = match.rule.rule
      rule = sopsRuleRef(r)
      ruleUse.set(r.index, (ruleUse.get(r.index) ?? 0) + 1)
      const wanted = r.keyGroups.map((g) => refsOfGroup(g, keyCache))
      const groups: { index: number; missing: string[]; extra: string[] }[] = []
      const missingIds: MutableIdentity[][] = []
      const extraIds: MutableIdentity[][] = []
      if (wanted.length > 0) {
        for (let g = 0; g < Math.max(wanted.length, fileGroups.length); g++) {
          const have = fileGroups[g] ?? []
          const want = wanted[g] ?? []
          const haveKeys = new Set(have.map((k) => k.key))
          const wantKeys = new Set(want.map((k) => k.key))
          const missing = want.filter((k) => !haveKeys.has(k.key)).map((k) => table.add(k))
          const extra = have.filter((k) => !wantKeys.has(k.key)).map((k) => table.add(k))
          missingIds.push(missing)
          extraIds.push(extra)
          if (missing.length > 0 || extra.length > 0) {
            groups.push({
              index: g,
              missing: missing.map((i) => i.id),
              extra: extra.map((i) => i.id),
            })
          }
        }
      }
      for (const [g, ids] of groupIdentities.entries()) {
        for (const i of ids)
          setAccess(i, extraIds[g]?.includes(i) === true ? "extra" : shared ? "share" : "read")
      }
      for (const ids of missingIds) for (const i of ids) setAccess(i, "missing")
      const ruleThreshold = neededGroups(wanted.length, r.shamirThreshold)
      const thresholdChanges =
        r.shamirThreshold !== 0 &&
        wanted.length > 1 &&
        ruleThreshold !== neededGroups(fileGroups.length, threshold)
      if (groups.length > 0 || thresholdChanges) {
        const removed = extraIds.some((ids) => ids.length > 0)
        const parts = groups.map((g) => {
          const bits = [
            ...(g.missing.length > 0 ? [`missing ${g.missing.join(", ")}`] : []),
            ...(g.extra.length > 0 ? [`extra ${g.extra.join(", ")}`] : []),
          ]
          return `${wanted.length > 1 || fileGroups.length > 1 ? `key group ${String(g.index + 1)}: ` : ""}${bits.join("; ")}`
        })
        if (thresholdChanges)
          parts.push(`threshold ${String(threshold)} -> ${String(r.shamirThreshold)}`)
        add(
          "stale",
          file.path,
          `differs from creation rule ${String(r.index + 1)}: ${parts.join("; ")}`,
          `coffer updatekeys -y${removed ? " --rotate" : ""} ${shellQuote(file.path)}`,
          {
            rule,
            groups,
            threshold: thresholdChanges ? { file: threshold, rule: r.shamirThreshold } : null,
          },
        )
      }
    }
    // who of the listed keys can open enough groups
    const openable = groupIdentities.filter((ids) => ids.some((i) => i.listed)).length
    if (openable < Math.max(1, neededGroups(fileGroups.length, threshold))) {
      add(
        "undecryptable",
        file.path,
        fileGroups.length > 1
          ? `listed keys can open ${String(openable)} of the ${String(neededGroups(fileGroups.length, threshold))} key groups needed`
          : "none of its keys is listed in the rules",
        null,
        { recipients: [...new Set(groupIdentities.flat().map((i) => i.id))] },
      )
    }
    fileIndex.set(file.path, {
      access,
      report: {
        path: file.path,
        kind: "sops",
        format: file.format,
        rule,
        keyGroups: groupIdentities,
        threshold,
        anonymousStanzas: 0,
        dataKey: dataKeyOf(file.path, file.metadata.lastModified),
      },
    })
    for (const value of file.clearValues) {
      add(
        "plaintext-value",
        file.path,
        `${value.location} is in clear: ${value.reason}`,
        value.expected ? null : `coffer edit ${shellQuote(file.path)}`,
        { location: value.location, expected: value.expected, reason: value.reason },
      )
    }
  }

  function auditAge(file: AgeFileRecord): void {
    const access = new Map<MutableIdentity, Access>()
    const entry = agenixByPath.get(join(input.root, file.path))
    const sshStanzas = file.stanzas.filter((s) => s.tag !== undefined)
    const x25519 = file.stanzas.filter((s) => s.type === "X25519").length
    const present = sshStanzas.map((s) => table.unknownTag(s.type, s.tag ?? ""))
    const recipients: MutableIdentity[] = [...present]
    let rule: RuleRef | null = null
    if (entry === undefined) {
      for (const i of present) access.set(i, "read")
      add(
        "unmatched-file",
        file.path,
        unreadableAgenix.length > 0
          ? `is an age file that no readable secrets.nix lists (${unreadableAgenix.join(", ")} can't be read)`
          : input.agenix.length === 0
            ? "is an age file, but there is no secrets.nix"
            : `is an age file that no secrets.nix lists`,
        null,
        { kind: "age" },
      )
    } else {
      rule = { source: "agenix", file: entry.source.path, name: entry.rule.name }
      const wantSsh = entry.refs.filter((r) => r.tag !== undefined)
      const wantX = entry.refs.filter((r) => r.kind === "age")
      const wantOther = entry.refs.filter((r) => r.tag === undefined && r.kind !== "age")
      const presentTags = new Set(sshStanzas.map((s) => s.tag))
      const wantTags = new Set(wantSsh.map((r) => r.tag))
      const missing = wantSsh.filter((r) => !presentTags.has(r.tag)).map((r) => table.add(r))
      const extra = present.filter((_identity, n) => !wantTags.has(sshStanzas[n]?.tag))
      for (const i of present) access.set(i, extra.includes(i) ? "extra" : "read")
      for (const i of missing) access.set(i, "missing")
      const xIdentities = wantX.map((r) => table.add(r))
      for (const i of xIdentities) {
        access.set(i, x25519 === 0 ? "missing" : "unverified")
        recipients.push(i)
      }
      for (const r of wantOther) {
        const i = table.add(r)
        access.set(i, "unverified")
        recipients.push(i)
      }
      const missingX = Math.max(0, wantX.length - x25519)
      const extraX = Math.max(0, x25519 - wantX.length)
      const armorDiffers = entry.rule.armor !== file.armored
      const parts = [
        ...(missing.length > 0 ? [`missing ${missing.map((i) => i.id).join(", ")}`] : []),
        ...(missingX > 0 ? [`${plural(missingX, "X25519 recipient")} missing`] : []),
        ...(extra.length > 0 ? [`extra ${extra.map((i) => i.id).join(", ")}`] : []),
        ...(extraX > 0
          ? [`${plural(extraX, "X25519 stanza")} for recipients not in the rule`]
          : []),
        ...(armorDiffers
          ? [entry.rule.armor ? "the rule asks for armor" : "the rule no longer asks for armor"]
          : []),
      ]
      if (parts.length > 0) {
        add(
          "stale",
          file.path,
          `differs from its entry in ${entry.source.path}: ${parts.join("; ")}`,
          agenixFix(entry.source.path, "-r"),
          {
            rule,
            // as for sops files: only a group that differs is listed
            groups:
              missing.length + extra.length > 0
                ? [{ index: 0, missing: missing.map((i) => i.id), extra: extra.map((i) => i.id) }]
                : [],
            missingX25519: missingX,
            extraX25519: extraX,
            armor: armorDiffers ? { file: file.armored, rule: entry.rule.armor } : null,
          },
        )
      }
    }
    const scryptOnly = file.stanzas.length === 1 && file.stanzas[0]?.type === "scrypt"
    const listedX = table.all.some((i) => i.listed && i.keys.some((k) => k.kind === "age"))
    const others = file.stanzas.some(
      (s) => s.tag === undefined && s.type !== "X25519" && s.type !== "scrypt",
    )
    const decryptable = present.some((i) => i.listed) || (x25519 > 0 && listedX) || others
    // with a secrets.nix that can't be read, its keys are unknown: not a reason to say so
    const unjudged = entry === undefined && unreadableAgenix.length > 0
    if (scryptOnly || (!decryptable && !unjudged)) {
      add(
        "undecryptable",
        file.path,
        scryptOnly
          ? "is encrypted with a passphrase, not to a key"
          : "none of its recipients is a listed key",
        null,
        { recipients: [...new Set(present.map((i) => i.id))] },
      )
    }
    fileIndex.set(file.path, {
      access,
      report: {
        path: file.path,
        kind: "age",
        format: file.armored ? "age-armored" : "age",
        rule,
        keyGroups: [recipients],
        threshold: 0,
        anonymousStanzas: x25519,
        dataKey: dataKeyOf(file.path, null),
      },
    })
  }

  function dataKeyOf(path: string, lastModified: string | null): DataKeyAge {
    const birth = input.births?.get(path)
    const days = (iso: string): number | null => {
      const t = Date.parse(iso)
      return Number.isNaN(t) ? null : Math.floor((input.now.getTime() - t) / 86_400_000)
    }
    if (birth !== undefined) {
      return {
        lastModified,
        createdAt: birth.createdAt,
        source: birth.source,
        ageDays: days(birth.createdAt),
      }
    }
    if (lastModified !== null) {
      return { lastModified, createdAt: null, source: "lastmodified", ageDays: days(lastModified) }
    }
    return { lastModified, createdAt: null, source: null, ageDays: null }
  }

  // 3. rules nobody uses, keys no rule uses
  if (input.sops !== undefined) {
    const sopsConfigPath = input.sops.path
    const allPaths = input.treePaths ?? input.files.map((f) => f.path)
    for (const r of sopsRules) {
      if (r.error !== undefined || (ruleUse.get(r.rule.index) ?? 0) > 0) continue
      if (input.scope === "staged") continue
      let shadowedBy: number | undefined
      if (r.regex !== undefined) {
        for (const path of allPaths) {
          const matched = rulePathFor(join(input.root, path), input.sops.absolutePath, input.root)
          if (!r.regex.test(matched)) continue
          const first = ruleFor(path)
          if (first !== undefined && first.rule.rule.index < r.rule.index) {
            shadowedBy = first.rule.rule.index
            break
          }
        }
      }
      add(
        "unused-rule",
        sopsConfigPath,
        `creation rule ${String(r.rule.index + 1)} (${r.rule.pathRegex === "" ? "no path_regex" : r.rule.pathRegex}) matches no encrypted file${shadowedBy === undefined ? "" : `: rule ${String(shadowedBy + 1)} comes first for every file it matches`}`,
        null,
        { rule: sopsRuleRef(r.rule), shadowedBy: shadowedBy ?? null },
      )
    }
  }
  if (input.scope === "tree") {
    const present = new Set(
      (input.treePaths ?? input.files.map((f) => f.path)).map((p) => join(input.root, p)),
    )
    for (const e of agenixEntries) {
      if (present.has(e.rule.path)) continue
      const inside = e.rule.path.startsWith(input.root + "/")
      if (!inside) continue
      add(
        "unused-rule",
        e.source.path,
        `lists ${JSON.stringify(e.rule.name)}, which does not exist`,
        agenixFix(e.source.path, `-e ${shellQuote(e.rule.name)}`),
        { rule: { source: "agenix", file: e.source.path, name: e.rule.name }, shadowedBy: null },
      )
    }
    const reported = new Set<string>()
    for (const d of declarations) {
      if (ruleKeys.has(d.key.key) || reported.has(`${d.file}\0${d.key.key}`)) continue
      reported.add(`${d.file}\0${d.key.key}`)
      add(
        "unused-key",
        d.file,
        `${d.name === undefined ? shortKey(d.key) : d.name}${d.line === undefined ? "" : ` (line ${String(d.line)})`} is declared but no rule uses it`,
        null,
        {
          identity: table.add(d.key).id,
          key: d.key.key,
          name: d.name ?? null,
          line: d.line ?? null,
        },
      )
    }
  }

  // 4. key age
  if (input.maxAgeDays !== undefined) {
    for (const [path, entry] of fileIndex) {
      const age = entry.report.dataKey
      if (age.ageDays === null || age.ageDays <= input.maxAgeDays) continue
      const exact = age.source !== "lastmodified"
      const kind = entry.report.kind
      add(
        "key-age",
        path,
        `${kind === "sops" ? "data key" : "file key"} is ${exact ? "" : "at least "}${String(age.ageDays)} days old (--max-age ${String(input.maxAgeDays)})`,
        kind === "sops"
          ? `coffer rotate -i ${shellQuote(path)}`
          : entry.report.rule?.source === "agenix"
            ? agenixFix(entry.report.rule.file, "-r --force")
            : null,
        { ageDays: age.ageDays, maxAgeDays: input.maxAgeDays, createdAt: age.createdAt, exact },
      )
    }
  }

  // 5. the report
  table.assignIds()
  const resolved = findings
  const byFile = new Map<string, FindingClass[]>()
  for (const f of resolved) byFile.set(f.path, [...(byFile.get(f.path) ?? []), f.class])
  for (const [path, entry] of [...fileIndex].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
    const access: Record<string, Access> = {}
    for (const [identity, value] of entry.access) access[identity.id] = value
    fileReports.push({
      ...entry.report,
      keyGroups: entry.report.keyGroups.map((ids) => [...new Set(ids.map((i) => i.id))]),
      access,
      findings: [...new Set(byFile.get(path) ?? [])],
    })
  }
  const identities: IdentityReport[] = table.all.map((i) => ({
    id: i.id,
    name: i.name ?? null,
    group: i.group ?? null,
    keys: i.keys.map((k) => ({
      type: k.kind,
      key: k.key,
      ...(k.tag === undefined ? {} : { tag: k.tag }),
    })),
    listed: i.listed,
  }))
  const byClass = Object.fromEntries(FINDING_CLASSES.map((c) => [c, 0])) as Record<
    FindingClass,
    number
  >
  for (const f of resolved) byClass[f.class]++
  const order = new Map(FINDING_CLASSES.map((c, i) => [c, i]))
  resolved.sort(
    (a, b) =>
      (order.get(a.class) ?? 0) - (order.get(b.class) ?? 0) ||
      (a.path < b.path ? -1 : a.path > b.path ? 1 : 0),
  )
  return {
    schema: AUDIT_SCHEMA,
    root: input.root,
    generatedAt: input.now.toISOString().replace(/\.\d{3}Z$/, "Z"),
    scope: input.scope,
    rules: { sops: input.sops?.path ?? null, agenix: input.agenix.map((a) => a.path) },
    maxAgeDays: input.maxAgeDays ?? null,
    identities,
    files: fileReports,
    findings: resolved,
    summary: { scanned: input.files.length, encrypted, skipped, byClass },
  }
}
