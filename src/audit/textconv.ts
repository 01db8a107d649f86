/**
 * What `coffer textconv` shows for an encrypted file nobody here can open (docs/audit.md
 * "Diffs of encrypted files"): its structure, not its values. A sops document keeps its
 * keys and shows each encrypted value as `(encrypted sha256:…)` (a digest of the
 * ciphertext, so a changed value shows as a changed line and an unchanged one does not);
 * an age file shows its recipients' stanzas and a digest of the file. Pure.
 */
import { createHash } from "node:crypto"
import type { AgeFileRecord, SopsFileRecord } from "./classify.js"
import { storeForFormat } from "../sops/stores/index.js"
import { decodeFileText } from "../sops/stores/store.js"
import { isEncryptedValue } from "../sops/value-cipher.js"
import { mapLeaves } from "../sops/walk.js"

function digest(text: string | Uint8Array): string {
  return createHash("sha256").update(text).digest("hex").slice(0, 12)
}

/**
 * The placeholder of a sops file.
 * @param record the classified file
 * @param bytes its content
 * @param reason why it was not decrypted (one line)
 * @returns text for `git diff`
 */
export function sopsPlaceholder(record: SopsFileRecord, bytes: Uint8Array, reason: string): string {
  const recipients = record.metadata.keyGroups.flatMap((g) => [
    ...g.age.map((k) => k.recipient.trim()),
    ...g.pgp.map((k) => `pgp ${k.fp}`),
    ...Object.entries(g.opaque).flatMap(([type, keys]) => keys.map(() => type)),
  ])
  const header = [
    `# coffer textconv: ${reason}; values are shown as digests of their ciphertext`,
    `# sops ${record.format} file, lastmodified ${record.metadata.lastModified}, recipients: ${recipients.join(", ")}`,
  ]
  let body = ""
  if (record.format !== "binary") {
    try {
      const store = storeForFormat(record.format)
      const { doc } = store.parseEncrypted(decodeFileText(bytes))
      const masked = mapLeaves(
        doc,
        () => true,
        (leaf) => {
          if (leaf.kind === "string" && isEncryptedValue(leaf.value)) {
            return { kind: "string", value: `(encrypted sha256:${digest(leaf.value)})` }
          }
          if (leaf.kind === "comment" && isEncryptedValue(leaf.text)) {
            return { kind: "comment", text: ` (encrypted comment sha256:${digest(leaf.text)})` }
          }
          return leaf
        },
      )
      body = store.emit(masked)
    } catch {
      body = ""
    }
  }
  if (body === "") body = `(encrypted sha256:${digest(bytes)})\n`
  return `${header.join("\n")}\n${body}`
}

/**
 * The placeholder of an age file.
 * @param record the classified file
 * @param bytes its content
 * @param reason why it was not decrypted (one line)
 * @returns text for `git diff`
 */
export function agePlaceholder(record: AgeFileRecord, bytes: Uint8Array, reason: string): string {
  const stanzas = record.stanzas.map((s) => (s.tag === undefined ? s.type : `${s.type} ${s.tag}`))
  return [
    `# coffer textconv: ${reason}`,
    `# age file${record.armored ? " (armored)" : ""}, stanzas: ${stanzas.join(", ")}`,
    `(encrypted sha256:${digest(bytes)})`,
    "",
  ].join("\n")
}
