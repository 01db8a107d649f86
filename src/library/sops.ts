/**
 * `coffer/sops`: the sops document format as a library (docs/library.md "coffer/sops";
 * the format: docs/formats/sops.md). Three levels, each with its own error classes:
 *
 * - files by path, as the `sops` command works on them: `decryptSopsFile`, `loadSopsFile`
 *   (plain values) and `encryptSopsFile`, with keys found as sops finds them or passed in;
 * - file contents in memory, with the keys passed in: `decryptFile`, `encryptFile`, and
 *   `openEncryptedFile`/`reencryptFile` to change values keeping the data key and the
 *   ciphertext of what did not change;
 * - the document model (`Document`, `Node`, `Metadata`) and the `Store` of each format.
 *
 * Only what is re-exported here is public; the modules behind it may change.
 *
 * ```ts
 * import { loadSopsFile } from "coffer/sops"
 * const secrets = await loadSopsFile("secrets/app.yaml")
 * ```
 */

// files by path
export { decryptSopsFile, encryptSopsFile, loadSopsFile, toPlainValue } from "./sops-files.js"
export type { DecryptFileOptions, EncryptFileOptions } from "./sops-files.js"

// contents in memory
export {
  SOPS_VERSION,
  closeFile,
  decryptFile,
  encryptFile,
  openEncryptedFile,
  reencryptFile,
} from "../sops/index.js"
export type { FileEnvironment, NewFileSettings, OpenOptions, OpenedFile } from "../sops/index.js"
export { decryptDocument, encryptDocument } from "../sops/encrypt.js"
export type {
  DecryptOptions,
  EncryptEnvironment,
  EncryptSettings,
  EncryptedDocument,
} from "../sops/encrypt.js"
export type { KeyGroupRecipients, UnwrapKeys } from "../sops/data-key.js"
export type { PgpPort } from "../sops/master-keys.js"
export type { IvStash } from "../sops/value-cipher.js"

// the document model
export type {
  BoolScalar,
  BytesScalar,
  Comment,
  Document,
  Entry,
  FloatScalar,
  IntScalar,
  Mapping,
  Node,
  NullScalar,
  Scalar,
  Sequence,
  StringScalar,
  TimeScalar,
} from "../sops/tree.js"
export type {
  AgeMasterKey,
  KeyGroup,
  Metadata,
  OpaqueKeyType,
  OpaqueMasterKey,
  PgpMasterKey,
  ValueSelector,
} from "../sops/metadata.js"

// stores
export {
  BinaryStore,
  DotenvStore,
  IniStore,
  JsonStore,
  YamlStore,
  formatForPath,
  storeForFormat,
  storeForPath,
} from "../sops/stores/index.js"
export type { Store, StoreFormat, StoreOptions } from "../sops/stores/index.js"

// keys: discovery as sops does it, and gpg
export { describeSearch, discoverAgeIdentities, systemDiscoveryIo } from "../keys/discover.js"
export type {
  DiscoveredIdentities,
  DiscoveryIo,
  DiscoveryOptions,
  SearchOutcome,
  SearchedPlace,
} from "../keys/discover.js"
export { createGpgPort, gpgOptionsFromEnv } from "../keys/pgp.js"
export type { GpgOptions, GpgPort } from "../keys/pgp.js"
export { createCloudKeyPort } from "../cloud/port.js"
export type { CloudPortOptions } from "../cloud/port.js"
export type { CloudKeyPort } from "../sops/cloud-keys.js"

// errors: one class per failure a program may tell apart (all extend ToolError)
export {
  DataKeyError,
  DocumentLimitError,
  EncryptedValueError,
  MacMismatchError,
  MasterKeyError,
  MetadataError,
  MissingMacError,
  SelectorError,
  ShamirError,
  StoreEmitError,
  StoreParseError,
  ValueAuthenticationError,
} from "../sops/errors.js"
export {
  CloudAccessDeniedError,
  CloudCiphertextError,
  CloudCredentialsError,
  CloudKeyDisabledError,
  CloudKeyError,
  CloudKeyNotFoundError,
  CloudServiceError,
} from "../cloud/errors.js"
export { AlreadyEncryptedError } from "../workflows/encrypt.js"
export { PgpError } from "../keys/pgp.js"
export {
  ConfigError,
  ConfigNotFoundError,
  NoMatchingRuleError,
  PathRegexError,
  UnknownConfigKeyError,
} from "../policy/errors.js"
export { IdentityParseError, RecipientParseError } from "../age/errors.js"
export { InternalError, IoError, ToolError, UsageError } from "../internal/errors.js"
