/**
 * What one file in the tree is, from its bytes alone (docs/audit.md "What is read"): a sops
 * document (its metadata, and the values it leaves in clear), an age file (its header's
 * stanzas), or plaintext (with any private keys in it). Nothing is decrypted: the sops
 * store parses the file once and the age header is read without any identity. Pure.
 */
import { inspectHeader } from "../age/decrypt.js"
import type { Metadata } from "../sops/metadata.js"
import type { StoreFormat } from "../sops/stores/store.js"
import { decodeFileText } from "../sops/stores/store.js"
import { formatForPath, storeForFormat } from "../sops/stores/index.js"
import { isEncryptedValue } from "../sops/value-cipher.js"
import { compileSelector, describeLeaf, mapLeaves } from "../sops/walk.js"
import type { IdentityMarker } from "./secret-patterns.js"
import { findIdentityMarkers, secretLikeReason } from "./secret-patterns.js"

/** A value a sops file holds in clear that the audit reports. */
export interface ClearValue {
  /** Where it is (`db.password`, `a.b[2] in document 2`); never the value. */
  readonly location: string
  /** True when the file's own selector says it should be encrypted (a hand edit). */
  readonly expected: boolean
  /** Why it is reported. */
  readonly reason: string
}

/** One stanza of an age header, as far as it names its recipient. */
export interface StanzaSummary {
  /** `X25519`, `ssh-ed25519`, `ssh-rsa`, `mlkem768x25519`, `scrypt`, or a plugin's type. */
  readonly type: string
  /** The SSH key tag (first argument of `ssh-ed25519`/`ssh-rsa` stanzas). */
  readonly tag?: string
}

/** A sops-encrypted file. */
export interface SopsFileRecord {
  readonly kind: "sops"
  readonly path: string
  readonly format: StoreFormat
  readonly metadata: Metadata
  readonly clearValues: readonly ClearValue[]
}

/** An age-encrypted file. */
export interface AgeFileRecord {
  readonly kind: "age"
  readonly path: string
  readonly armored: boolean
  readonly stanzas: readonly StanzaSummary[]
}

/** Any other file. */
export interface PlainFileRecord {
  readonly kind: "plain"
  readonly path: string
  readonly size: number
  readonly markers: readonly IdentityMarker[]
}

/** A file that looks encrypted but does not parse. */
export interface BrokenFileRecord {
  readonly kind: "broken"
  readonly path: string
  readonly claimed: "sops" | "age"
  readonly error: string
}

/** A file that was not read (too large, unreadable). */
export interface SkippedFileRecord {
  readonly kind: "skipped"
  readonly path: string
  readonly reason: string
}

export type FileRecord =
  SopsFileRecord | AgeFileRecord | PlainFileRecord | BrokenFileRecord | SkippedFileRecord

const AGE_VERSION_LINE = "age-encryption.org/v1\n"
const AGE_ARMOR_BEGIN = "-----BEGIN AGE ENCRYPTED FILE-----"

/** The first bytes as Latin-1 (enough to recognise a header). */
function head(bytes: Uint8Array, length: number): string {
  return Buffer.from(bytes.subarray(0, length)).toString("latin1")
}

/** Whether the text carries a sops section in the layout of `format`. */
function hasSopsSection(text: string, format: StoreFormat): boolean {
  switch (format) {
    case "yaml":
      return /^sops:[ \t]*(?:#.*)?$/m.test(text) && /\b(?:mac|lastmodified|version):/.test(text)
    case "json":
    case "binary":
      return text.trimStart().startsWith("{") && /"sops"\s*:\s*\{/.test(text)
    case "dotenv":
      return /^sops_(?:mac|lastmodified|version)=/m.test(text)
    case "ini":
      return /^\[sops\][ \t]*$/m.test(text)
    default: {
      const never: never = format
      return never
    }
  }
}

function messageOf(error: unknown): string {
  return error instanceof Error ? (error.message.split("\n")[0] ?? "") : String(error)
}

/**
 * Classifies one file.
 * @param path the file's path relative to the audited directory (`/`-separated)
 * @param bytes its content
 * @returns what it is
 */
export function classifyFile(path: string, bytes: Uint8Array): FileRecord {
  const start = head(bytes, 64)
  if (start.startsWith(AGE_VERSION_LINE) || start.trimStart().startsWith(AGE_ARMOR_BEGIN)) {
    try {
      const info = inspectHeader(bytes, true)
      if (info === null)
        return { kind: "broken", path, claimed: "age", error: "header is truncated" }
      return {
        kind: "age",
        path,
        armored: info.armored,
        stanzas: info.stanzas.map((s) =>
          (s.type === "ssh-ed25519" || s.type === "ssh-rsa") && s.args[0] !== undefined
            ? { type: s.type, tag: s.args[0] }
            : { type: s.type },
        ),
      }
    } catch (error) {
      return { kind: "broken", path, claimed: "age", error: messageOf(error) }
    }
  }
  const text = decodeFileText(bytes)
  let format = formatForPath(path)
  // a binary sops file is JSON whatever its name
  if (!hasSopsSection(text, format) && format !== "json" && hasSopsSection(text, "binary")) {
    format = "binary"
  }
  if (hasSopsSection(text, format)) {
    try {
      const store = storeForFormat(format, { fileName: path })
      const { doc, metadata } = store.parseEncrypted(text)
      return { kind: "sops", path, format, metadata, clearValues: clearValuesOf(doc, metadata) }
    } catch (error) {
      return { kind: "broken", path, claimed: "sops", error: messageOf(error) }
    }
  }
  return { kind: "plain", path, size: bytes.length, markers: findIdentityMarkers(text) }
}

/**
 * The values of an encrypted document that are in clear and should not be: those its own
 * selector says are encrypted (someone edited the file by hand), and, outside the encrypted
 * set, those that look like secrets.
 */
function clearValuesOf(doc: Parameters<typeof mapLeaves>[0], metadata: Metadata): ClearValue[] {
  let select: ReturnType<typeof compileSelector>
  try {
    select = compileSelector(metadata.selector)
  } catch {
    return []
  }
  const found: ClearValue[] = []
  mapLeaves(doc, select, (leaf, ctx) => {
    if (leaf.kind === "comment" || ctx.isComment) return leaf
    if (leaf.kind === "string" && (leaf.value === "" || isEncryptedValue(leaf.value))) return leaf
    const location = describeLeaf(ctx)
    if (ctx.encrypted) {
      found.push({
        location,
        expected: true,
        reason: "the file's selector says it is encrypted, but it is in clear",
      })
      return leaf
    }
    if (leaf.kind === "string") {
      const key = ctx.keys.at(-1) ?? ""
      const reason = secretLikeReason(key, leaf.value)
      if (reason !== undefined) found.push({ location, expected: false, reason })
    }
    return leaf
  })
  return found
}
