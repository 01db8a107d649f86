/**
 * When each file's key was made, from git history (docs/audit.md "Key age"), for
 * `--max-age`.
 *
 * - An age file gets a new file key every time it is written, so its key is as old as the
 *   last commit that changed it (when the work tree still holds that version).
 * - A sops file keeps its data key across `edit`, `set` and `updatekeys`; only `encrypt`
 *   and `rotate` make a new one, and `lastmodified` records when a file was last
 *   re-encrypted, not when its key was made. Two versions share a data key when some
 *   master key's `enc` is byte for byte the same in both (the data key was not wrapped
 *   again), or some value's ciphertext is (same key, IV and path; a new key can't give the
 *   same ciphertext). Walking the file's history back while versions share the key finds
 *   the version that made it, whose `lastmodified` is the key's birth.
 * Blobs are read with one `git cat-file --batch` per step back, for all files at once.
 */
import { isEncryptedValue } from "../sops/value-cipher.js"
import { storeForFormat } from "../sops/stores/index.js"
import { decodeFileText } from "../sops/stores/store.js"
import type { Node } from "../sops/tree.js"
import type { KeyBirth } from "./audit.js"
import type { FileRecord, SopsFileRecord } from "./classify.js"
import { classifyFile } from "./classify.js"
import { readBlobs, runGit } from "./git.js"

/** How far back one file's history is followed. */
const MAX_VERSIONS = 200

interface Commit {
  readonly hash: string
  readonly date: string
}

/** The ciphertexts that tell whether two versions share a data key. */
function signatureOf(record: SopsFileRecord, bytes: Uint8Array): Set<string> {
  const out = new Set<string>()
  for (const group of record.metadata.keyGroups) {
    for (const k of group.age) out.add(k.enc)
    for (const k of group.pgp) out.add(k.enc)
  }
  try {
    const { doc } = storeForFormat(record.format).parseEncrypted(decodeFileText(bytes))
    const visit = (node: Node): void => {
      if (node.kind === "mapping") {
        for (const item of node.items) if (item.kind === "entry") visit(item.value)
      } else if (node.kind === "sequence") {
        for (const item of node.items) if (item.kind !== "comment") visit(item)
      } else if (node.kind === "string" && isEncryptedValue(node.value)) out.add(node.value)
    }
    for (const branch of doc.branches) visit(branch)
  } catch {
    // the metadata alone decides
  }
  return out
}

function shares(a: ReadonlySet<string>, b: ReadonlySet<string>): boolean {
  for (const x of a) if (b.has(x)) return true
  return false
}

function iso(text: string): string | undefined {
  const t = Date.parse(text)
  return Number.isNaN(t) ? undefined : new Date(t).toISOString().replace(/\.\d{3}Z$/, "Z")
}

/**
 * Finds when the key of each encrypted file was made.
 * @param root the audited directory (in a git work tree)
 * @param files the classified files
 * @param contents the work tree bytes of the encrypted files
 * @returns births by path; files with no usable history are absent
 */
export async function findKeyBirths(
  root: string,
  files: readonly FileRecord[],
  contents: ReadonlyMap<string, Uint8Array>,
): Promise<Map<string, KeyBirth>> {
  const births = new Map<string, KeyBirth>()
  const targets = files.filter((f) => f.kind === "sops" || f.kind === "age")
  if (targets.length === 0) return births
  const prefix = (await runGit(["rev-parse", "--show-prefix"], root)).stdout.toString("utf8").trim()
  const log = await runGit(
    ["log", "--format=%x01%H %cI", "--name-only", "-z", "--relative", "--no-renames", "--", "."],
    root,
  )
  const history = new Map<string, Commit[]>()
  const wanted = new Set(targets.map((t) => t.path))
  if (log.status === 0) {
    for (const record of log.stdout.toString("utf8").split("\x01")) {
      const nul = record.indexOf("\0")
      if (nul === -1) continue
      const [hash, date] = record.slice(0, nul).split(" ")
      if (hash === undefined || date === undefined) continue
      for (const name of record
        .slice(nul + 1)
        .replace(/^\n/, "")
        .split("\0")) {
        if (!wanted.has(name)) continue
        const list = history.get(name) ?? []
        list.push({ hash, date })
        history.set(name, list)
      }
    }
  }
  const read = (names: readonly string[]): Promise<Map<string, Buffer | undefined>> =>
    readBlobs(root, names)
  const blobName = (commit: Commit, path: string): string => `${commit.hash}:${prefix}${path}`

  // age files: the last commit, when the work tree still holds it
  const ages = targets.filter((t) => t.kind === "age")
  const ageBlobs = await read(
    ages.flatMap((t) => {
      const last = history.get(t.path)?.[0]
      return last === undefined ? [] : [blobName(last, t.path)]
    }),
  )
  for (const t of ages) {
    const last = history.get(t.path)?.[0]
    const current = contents.get(t.path)
    if (last === undefined || current === undefined) continue
    const blob = ageBlobs.get(blobName(last, t.path))
    const date = iso(last.date)
    if (blob !== undefined && date !== undefined && Buffer.compare(blob, current) === 0) {
      births.set(t.path, { createdAt: date, source: "commit" })
    }
  }

  // sops files: walk back while versions share the data key
  interface Walk {
    readonly path: string
    readonly commits: readonly Commit[]
    next: number
    signature: Set<string>
    lastModified: string
  }
  const walks: Walk[] = []
  for (const t of targets) {
    if (t.kind !== "sops") continue
    const bytes = contents.get(t.path)
    const commits = history.get(t.path)
    if (bytes === undefined || commits === undefined || commits.length === 0) continue
    walks.push({
      path: t.path,
      commits,
      next: 0,
      signature: signatureOf(t, bytes),
      lastModified: t.metadata.lastModified,
    })
  }
  let active = walks
  for (let step = 0; step < MAX_VERSIONS && active.length > 0; step++) {
    const blobs = await read(active.map((w) => blobName(w.commits[w.next] as Commit, w.path)))
    const still: Walk[] = []
    for (const w of active) {
      const blob = blobs.get(blobName(w.commits[w.next] as Commit, w.path))
      const bytes = blob === undefined ? undefined : new Uint8Array(blob)
      const record = bytes === undefined ? undefined : classifyFile(w.path, bytes)
      const older =
        record?.kind === "sops" && bytes !== undefined ? signatureOf(record, bytes) : undefined
      if (record?.kind !== "sops" || older === undefined || !shares(w.signature, older)) {
        // the newer version made the key
        const createdAt = iso(w.lastModified)
        if (createdAt !== undefined) births.set(w.path, { createdAt, source: "history" })
        continue
      }
      w.signature = older
      w.lastModified = record.metadata.lastModified
      w.next += 1
      if (w.next >= w.commits.length) {
        const createdAt = iso(w.lastModified)
        if (createdAt !== undefined) births.set(w.path, { createdAt, source: "history" })
        continue
      }
      still.push(w)
    }
    active = still
  }
  return births
}
