/**
 * Changing one value of a sops file in place (sops's `set` and `unset`; docs/formats/sops.md
 * "Commands"): the file is opened (`sops-session.ts`), the tree changed at a path
 * (`tree-edit.ts`), and written back atomically with the same data key, so every other
 * value keeps its ciphertext.
 */
import type { WorkflowIo } from "./io.js"
import { openSopsFile, readInputFile, writeSopsFile, type SopsTarget } from "./sops-session.js"
import { sameNode, setInDocument, unsetInDocument } from "./tree-edit.js"
import { findNode, type TreePathStep } from "./tree-path.js"
import { closeFile } from "../sops/index.js"
import type { Mapping, Node } from "../sops/tree.js"

/**
 * Sets the value at `path` (a missing key is appended to its mapping, an index past the
 * end appends, missing levels are created).
 * @param target the file
 * @param path where, e.g. `["db", "password"]`
 * @param value the new value
 * @param options `idempotent`: don't rewrite the file when the value is already there
 * @param io reading and replacing the file, keys, warnings
 * @returns `unchanged` when `idempotent` and the value was already set (nothing written)
 * @throws IoError, TreePathError, UsageError (a path that does not start with a key), the
 *   key and sops errors
 */
export async function setSopsValue(
  target: SopsTarget,
  path: readonly TreePathStep[],
  value: Node,
  options: { readonly idempotent?: boolean },
  io: WorkflowIo,
): Promise<"written" | "unchanged"> {
  const opened = await openTarget(target, io)
  try {
    if (options.idempotent === true && sameNode(currentValue(opened.doc.branches[0], path), value))
      return "unchanged"
    const updated = setInDocument(opened.doc, path, value)
    await io.replaceFile(target.file, writeSopsFile(opened, updated))
    return "written"
  } finally {
    closeFile(opened)
  }
}

/**
 * Removes the key or list element at `path`.
 * @param target the file
 * @param path where, e.g. `["old_token"]`
 * @param io reading and replacing the file, keys, warnings
 * @returns `absent` when the path is not there (nothing written)
 * @throws IoError, TreePathError (an index that names a comment), the key and sops errors
 */
export async function unsetSopsValue(
  target: SopsTarget,
  path: readonly TreePathStep[],
  io: WorkflowIo,
): Promise<"written" | "absent"> {
  const opened = await openTarget(target, io)
  try {
    const updated = unsetInDocument(opened.doc, path)
    if (updated === undefined) return "absent"
    await io.replaceFile(target.file, writeSopsFile(opened, updated))
    return "written"
  } finally {
    closeFile(opened)
  }
}

async function openTarget(target: SopsTarget, io: WorkflowIo): ReturnType<typeof openSopsFile> {
  const text = await readInputFile(io, target.file)
  return openSopsFile(text, target.store, target.file, io, target.ignoreMac ?? false)
}

function currentValue(root: Mapping | undefined, path: readonly TreePathStep[]): Node | undefined {
  if (root === undefined) return undefined
  try {
    return findNode(root, path)
  } catch {
    return undefined
  }
}
