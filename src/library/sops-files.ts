/**
 * Sops files by path, for Node programs (`coffer/sops`; docs/library.md "coffer/sops"):
 * the plaintext of a file, with the keys found as sops finds them (docs/formats/sops.md
 * "age keys and where they are found") or with identities the program passes in, every
 * value and the MAC authenticated; and a new sops file encrypted by its `.sops.yaml`
 * creation rule or to explicit recipients. These functions read the file they are given and
 * return the result: they never write, print or prompt, and report warnings through a
 * callback. They compose the same workflows the command line runs (`workflows/decrypt.ts`,
 * `workflows/encrypt.ts`), so a program gets the CLI's behaviour and error classes.
 */
import { readFile } from "node:fs/promises"
import { resolve } from "node:path"
import type { Identity } from "../age/recipient.js"
import { wipeBytes } from "../internal/bytes.js"
import { UsageError } from "../internal/errors.js"
import { unwrapDataKey, type UnwrapKeys } from "../sops/data-key.js"
import { DataKeyError } from "../sops/errors.js"
import { decryptDocument } from "../sops/encrypt.js"
import type { CloudKeyPort } from "../sops/cloud-keys.js"
import type { PgpPort } from "../sops/master-keys.js"
import type { ValueSelector } from "../sops/metadata.js"
import type { Document, Node } from "../sops/tree.js"
import type { Store, StoreFormat } from "../sops/stores/store.js"
import { decodeFileText, emitPlaintext, isBytesStore } from "../sops/stores/store.js"
import { storeForFormat, storeForPath } from "../sops/stores/index.js"
import { newFileKeys } from "../workflows/creation-rule.js"
import { recoverDataKey } from "../workflows/data-key-recovery.js"
import { decryptSopsFile as decryptWorkflow } from "../workflows/decrypt.js"
import { encryptSopsFile as encryptWorkflow } from "../workflows/encrypt.js"
import { readInputBytes } from "../workflows/sops-session.js"
import { systemWorkflowIo } from "../workflows/system-io.js"

/** How to open a sops file by path. */
export interface DecryptFileOptions {
  /** The file's format; default: from its name, as sops (`.yaml`, `.json`, `.env`, `.ini`, else binary). */
  readonly format?: StoreFormat
  /**
   * The age identities to try (`parseIdentityFile` of `coffer/age` reads a key file). When
   * given, nothing is discovered: no environment variable, key file or SSH key is read.
   */
  readonly identities?: readonly Identity[]
  /** PGP with explicit identities (without it, PGP keys of the file are not tried). */
  readonly pgp?: PgpPort
  /**
   * The clouds with explicit identities, for AWS KMS keys (`createCloudKeyPort({ env })`);
   * without it, cloud keys of the file are not tried.
   */
  readonly cloud?: CloudKeyPort
  /**
   * Without `identities`: the environment keys are discovered in as sops does it
   * (`SOPS_AGE_KEY`, `SOPS_AGE_KEY_FILE`, `SOPS_AGE_KEY_CMD`, `SOPS_AGE_SSH_PRIVATE_KEY_FILE`,
   * `~/.ssh`, the default `keys.txt`; `GNUPGHOME` for gpg). Default `process.env`.
   */
  readonly env?: Readonly<Record<string, string | undefined>>
  /** Decrypt even when the MAC is missing or does not match (sops's `--ignore-mac`). */
  readonly ignoreMac?: boolean
  /** Receives warnings (a comment that was not encrypted); default: dropped. */
  readonly onWarning?: (message: string) => void
}

/**
 * Decrypts a sops file to its plaintext, as `sops decrypt FILE` writes it.
 *
 * ```ts
 * const plaintext = await decryptSopsFile("secrets/app.yaml")
 * process.stdout.write(plaintext)
 * ```
 * @param path the sops file
 * @param options the format, explicit identities or the discovery environment, the MAC check
 * @returns the plaintext's exact bytes (UTF-8 text for every format but binary)
 * @throws IoError when the file can't be read; StoreParseError, MetadataError when it is not
 *   a sops file of that format; DataKeyError when no key opens it (listing where coffer
 *   looked); MacMismatchError, MissingMacError, ValueAuthenticationError,
 *   EncryptedValueError when it was changed or damaged
 */
export async function decryptSopsFile(
  path: string,
  options: DecryptFileOptions = {},
): Promise<Uint8Array> {
  const store = chooseStore(path, options.format)
  if (options.identities !== undefined) {
    const doc = await openWithKeys(path, store, options)
    return emitPlaintext(store, doc)
  }
  const plaintext = await decryptWorkflow(
    { file: path, input: store, output: store, ignoreMac: options.ignoreMac ?? false },
    ioFor(options),
  )
  return emitBytes(plaintext)
}

/**
 * Decrypts a sops file to plain JavaScript values (what the `sops-age` package returns, with
 * the MAC checked): a mapping is an object, a list an array; strings, booleans and `null`
 * as they are; integers are numbers (bigints beyond `Number.MAX_SAFE_INTEGER`), floats
 * numbers, timestamps their text, a binary file `{ data: Uint8Array }`.
 *
 * ```ts
 * const { db } = (await loadSopsFile("secrets/app.yaml")) as { db: { password: string } }
 * ```
 * @param path the sops file
 * @param options as `decryptSopsFile`
 * @returns the file's values (its first document; see `@throws`)
 * @throws as `decryptSopsFile`; UsageError for a YAML file of several documents (use
 *   `decryptSopsFile`, or `openEncryptedFile` for the document model)
 */
export async function loadSopsFile(
  path: string,
  options: DecryptFileOptions = {},
): Promise<unknown> {
  const store = chooseStore(path, options.format)
  const doc =
    options.identities !== undefined
      ? await openWithKeys(path, store, options)
      : await openDiscovering(path, store, options)
  if (doc.branches.length > 1) {
    throw new UsageError(
      `${JSON.stringify(path)} holds ${String(doc.branches.length)} YAML documents; loadSopsFile reads files of one`,
      { hints: ["use decryptSopsFile for the whole plaintext"] },
    )
  }
  return toPlainValue(doc.branches[0] ?? { kind: "mapping", items: [] })
}

/**
 * A node of the document model as a plain JavaScript value (see `loadSopsFile`); comments
 * are dropped. Object keys are own data properties (`__proto__` included), never setters.
 * @param node a plaintext node
 * @returns the value
 */
export function toPlainValue(node: Node): unknown {
  switch (node.kind) {
    case "mapping":
      return Object.fromEntries(
        node.items.flatMap((item) =>
          item.kind === "entry" ? [[item.key, toPlainValue(item.value)] as const] : [],
        ),
      )
    case "sequence":
      return node.items.flatMap((item) => (item.kind === "comment" ? [] : [toPlainValue(item)]))
    case "int":
      return node.value >= BigInt(Number.MIN_SAFE_INTEGER) &&
        node.value <= BigInt(Number.MAX_SAFE_INTEGER)
        ? Number(node.value)
        : node.value
    case "string":
    case "float":
    case "bool":
    case "time":
    case "bytes":
      return node.value
    case "null":
      return null
    default: {
      const unknown: never = node
      return unknown
    }
  }
}

/** How to encrypt a plaintext file by path. */
export interface EncryptFileOptions {
  /** The file's format; default: from its name. */
  readonly format?: StoreFormat
  /**
   * age recipients (`age1…`, `ssh-ed25519 …`): with these (or `pgp`), one key group of
   * these keys; without, the first `.sops.yaml` creation rule matching the path decides the
   * keys, threshold and which values are encrypted.
   */
  readonly age?: readonly string[]
  /** PGP fingerprints (encrypting to them runs gpg). */
  readonly pgp?: readonly string[]
  /** The `.sops.yaml` to use; default: `SOPS_CONFIG`, else looked for from `cwd` upward. */
  readonly config?: string
  /** Which values to encrypt; default the rule's, else `unencrypted_suffix: _unencrypted`. */
  readonly selector?: ValueSelector
  /** The environment (`SOPS_AGE_RECIPIENTS`, `SOPS_CONFIG`, gpg's); default `process.env`. */
  readonly env?: Readonly<Record<string, string | undefined>>
  /** Where a relative `path` and the rules' path regexes start; default `process.cwd()`. */
  readonly cwd?: string
  /** Receives warnings (unknown `.sops.yaml` keys are errors unless allowed); default: dropped. */
  readonly onWarning?: (message: string) => void
}

/**
 * Encrypts a plaintext file as a new sops file, as `sops encrypt FILE` does (a new data
 * key; the file is read, not written).
 *
 * ```ts
 * const text = await encryptSopsFile("app.yaml", { age: ["age1…"] })
 * await writeFile("app.enc.yaml", text, { mode: 0o600 })
 * ```
 * @param path the plaintext file
 * @param options explicit recipients or the `.sops.yaml` to take them from
 * @returns the sops file's text
 * @throws IoError; AlreadyEncryptedError for a file that already is a sops file;
 *   ConfigNotFoundError, NoMatchingRuleError, ConfigError without explicit keys;
 *   StoreParseError; MasterKeyError, RecipientParseError, ShamirError
 */
export async function encryptSopsFile(
  path: string,
  options: EncryptFileOptions = {},
): Promise<string> {
  const store = chooseStore(path, options.format)
  const cwd = options.cwd ?? process.cwd()
  // read, and matched against the rules, from `cwd` rather than the process's directory
  const file = resolve(cwd, path)
  const io = systemWorkflowIo({
    env: { ...(options.env ?? process.env) },
    cwd,
    warn: options.onWarning ?? ((): void => undefined),
    prompts: false,
  })
  const keys = await newFileKeys(io, file, {
    config: options.config,
    age: options.age ?? [],
    pgp: options.pgp ?? [],
  })
  const selector =
    store.format === "binary"
      ? undefined
      : (options.selector ?? keys.selector ?? { kind: "unencrypted_suffix", value: "_unencrypted" })
  return encryptWorkflow(
    {
      file,
      input: store,
      output: store,
      keys,
      selector,
      macOnlyEncrypted: keys.macOnlyEncrypted,
    },
    io,
  )
}

function chooseStore(path: string, format: StoreFormat | undefined): Store {
  return format === undefined ? storeForPath(path) : storeForFormat(format)
}

function ioFor(options: DecryptFileOptions): ReturnType<typeof systemWorkflowIo> {
  return systemWorkflowIo({
    env: { ...(options.env ?? process.env) },
    warn: options.onWarning ?? ((): void => undefined),
    prompts: false,
  })
}

function emitBytes(plaintext: string | Uint8Array): Uint8Array {
  return typeof plaintext === "string" ? new TextEncoder().encode(plaintext) : plaintext
}

/** Reads, unwraps with the keys given, decrypts; the data key is wiped before returning. */
async function openWithKeys(
  path: string,
  store: Store,
  options: DecryptFileOptions,
): Promise<Document> {
  const keys: UnwrapKeys = {
    identities: options.identities ?? [],
    ...(options.pgp === undefined ? {} : { pgp: options.pgp }),
    ...(options.cloud === undefined ? {} : { cloud: options.cloud }),
  }
  const { doc, metadata } = store.parseEncrypted(
    decodeFileText(await readInputBytes({ readFile: readBytes }, path)),
  )
  let dataKey: Uint8Array
  try {
    dataKey = await unwrapDataKey(metadata, keys)
  } catch (e) {
    if (!(e instanceof DataKeyError)) throw e
    throw new DataKeyError(`${JSON.stringify(path)}: ${e.message}`, { cause: e, hints: e.hints })
  }
  return decryptWith(path, store, doc, metadata, dataKey, options)
}

/** Reads, recovers the data key with the keys found as sops finds them, decrypts. */
async function openDiscovering(
  path: string,
  store: Store,
  options: DecryptFileOptions,
): Promise<Document> {
  const io = ioFor(options)
  const { doc, metadata } = store.parseEncrypted(decodeFileText(await readInputBytes(io, path)))
  const dataKey = await recoverDataKey(metadata, io, path)
  return decryptWith(path, store, doc, metadata, dataKey, options)
}

function decryptWith(
  path: string,
  store: Store,
  doc: Document,
  metadata: Parameters<typeof decryptDocument>[1],
  dataKey: Uint8Array,
  options: DecryptFileOptions,
): Document {
  try {
    return decryptDocument(doc, metadata, dataKey, {
      ignoreMac: options.ignoreMac ?? false,
      stringsAsBytes: isBytesStore(store),
      onWarning: (message) => options.onWarning?.(`${path}: ${message}`),
    })
  } finally {
    wipeBytes(dataKey)
  }
}

async function readBytes(path: string): Promise<Uint8Array> {
  const buffer = await readFile(path)
  return new Uint8Array(buffer.buffer, buffer.byteOffset, buffer.byteLength)
}
