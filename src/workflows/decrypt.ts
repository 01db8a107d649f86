/**
 * Decrypting a sops file to its plaintext, whole or one value of it (sops's `decrypt` and
 * `decrypt --extract`; docs/formats/sops.md "Commands"). The data key is recovered once
 * with the keys found as sops finds them, every value and the MAC are authenticated, and
 * the plaintext is written in the output store's format.
 */
import { recoverDataKey } from "./data-key-recovery.js"
import type { WorkflowIo } from "./io.js"
import { readInputFile } from "./sops-session.js"
import { findNode, type TreePathStep } from "./tree-path.js"
import { UsageError } from "../internal/errors.js"
import { decryptDocument } from "../sops/encrypt.js"
import type { Document, Mapping, Node } from "../sops/tree.js"
import type { Store } from "../sops/stores/index.js"
import {
  decodeFileText,
  emitPlaintext,
  emitYamlDocuments,
  isBytesStore,
  scalarToText,
} from "../sops/stores/index.js"
import { emitJsonBranch } from "../sops/stores/json.js"

/** What to decrypt and how to write it. */
export interface DecryptRequest {
  /** The sops file. */
  readonly file: string
  /** Its format. */
  readonly input: Store
  /** The plaintext's format (often the same store). */
  readonly output: Store
  /** Only the value at this path (`--extract`). */
  readonly extract?: readonly TreePathStep[] | undefined
  /** Decrypt even when the MAC is missing or wrong (`--ignore-mac`). */
  readonly ignoreMac?: boolean
}

/**
 * Decrypts a sops file.
 * @param request the file, its store, the output store and what to extract
 * @param io reading the file, key discovery, gpg, warnings
 * @returns the plaintext: text, or exact bytes for the binary store and for a bytes value
 * @throws IoError, StoreParseError, MetadataError, DataKeyError, the value and MAC errors;
 *   UsageError when `extract` names nothing, or a list the output format can't write
 */
export async function decryptSopsFile(
  request: DecryptRequest,
  io: Pick<WorkflowIo, "readFile" | "env" | "discovery" | "gpg" | "warn">,
): Promise<string | Uint8Array> {
  const { file, input, output } = request
  const { doc, metadata } = input.parseEncrypted(await readInputFile(io, file))
  const dataKey = await recoverDataKey(metadata, io, file)
  let plaintext: Document
  try {
    plaintext = decryptDocument(doc, metadata, dataKey, {
      ignoreMac: request.ignoreMac ?? false,
      // the binary store's data is the file's bytes, UTF-8 or not
      stringsAsBytes: isBytesStore(input),
      onWarning: (message) => {
        io.warn(`${file}: ${message}`)
      },
    })
  } finally {
    dataKey.fill(0)
  }
  // A binary file shown as YAML/JSON/...: its data is a string there, as in sops.
  if (isBytesStore(input) && !isBytesStore(output)) {
    plaintext = { branches: plaintext.branches.map(bytesAsText) }
  }
  return request.extract === undefined
    ? emitPlaintext(output, plaintext)
    : emitExtracted(findNode(firstBranch(plaintext), request.extract), output)
}

/**
 * The top-level `bytes` values of a branch as strings (invalid UTF-8 becomes U+FFFD, as
 * Go's encoders write a string that is not UTF-8).
 */
function bytesAsText(branch: Mapping): Mapping {
  return {
    kind: "mapping",
    items: branch.items.map((item) =>
      item.kind === "entry" && item.value.kind === "bytes"
        ? { ...item, value: { kind: "string", value: decodeFileText(item.value.value) } }
        : item,
    ),
  }
}

function firstBranch(doc: Document): Mapping {
  return doc.branches[0] ?? { kind: "mapping", items: [] }
}

/**
 * What `--extract` prints (sops's `extract`): a mapping as a document in the output
 * format, a string raw (bytes exactly), any other value as the output format writes a value.
 */
function emitExtracted(node: Node, store: Store): string | Uint8Array {
  if (node.kind === "mapping") return emitPlaintext(store, { branches: [node] })
  if (node.kind === "string" || node.kind === "bytes") return node.value
  const wrapper: Mapping = { kind: "mapping", items: [{ kind: "entry", key: "x", value: node }] }
  switch (store.format) {
    case "json": {
      // `{\n\t"x": VALUE\n}\n`: keep VALUE, one level less indented.
      const text = emitJsonBranch(wrapper)
      return text.slice(text.indexOf(": ") + 2, text.lastIndexOf("\n}")).replace(/\n\t/g, "\n")
    }
    case "yaml": {
      const text = emitYamlDocuments([wrapper])
      if (text.startsWith("x: ")) return text.slice(3)
      // `x:\n    - a\n` for a sequence: drop the key line and one indent level.
      return text
        .split("\n")
        .slice(1)
        .map((line) => line.replace(/^ {4}/, ""))
        .join("\n")
    }
    default:
      if (node.kind === "sequence") {
        throw new UsageError(`a list can't be printed in the ${store.format} format`, {
          hints: ["use --output-type yaml or --output-type json"],
        })
      }
      return `${scalarToText(node)}\n`
  }
}
