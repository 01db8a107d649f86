/**
 * One error class per sops failure people must tell apart (docs/formats/sops.md "Encrypted values",
 * "The MAC", "Data key and master keys"; docs/conventions.md "Errors"). Messages name the
 * value path, key group or master key, never a secret. Several helpers append here: append only.
 */
import { ToolError } from "../internal/errors.js"

// --- document crypto, data key and master keys (helper "sops-crypto") ---

/**
 * An encrypted value is malformed: not `ENC[AES256_GCM,...]` where one is expected, bad
 * base64, an unknown `type:`, or a plaintext that does not parse as its type.
 */
export class EncryptedValueError extends ToolError {
  /** The value's path as shown to people (`db.password`, `a.b[2]`). */
  readonly path: string
  constructor(
    path: string,
    message: string,
    opts: { hints?: readonly string[]; cause?: unknown } = {},
  ) {
    super(message, opts)
    this.path = path
  }
}

/** An encrypted value failed AES-GCM authentication: it, its path or the data key changed. */
export class ValueAuthenticationError extends ToolError {
  /** The value's path as shown to people (`db.password`, `a.b[2]`). */
  readonly path: string
  constructor(
    path: string,
    message: string,
    opts: { hints?: readonly string[]; cause?: unknown } = {},
  ) {
    super(message, opts)
    this.path = path
  }
}

/** The MAC does not decrypt (the MAC or `lastmodified` was edited) or does not match the values. */
export class MacMismatchError extends ToolError {}

/** The file has no MAC: refused unless the caller asked to ignore the MAC. */
export class MissingMacError extends ToolError {}

/** A value selector (`encrypted_regex`...) is invalid, or more than one is set. */
export class SelectorError extends ToolError {}

/** The data key could not be recovered: lists every group, key and why it failed. */
export class DataKeyError extends ToolError {}

/** The data key could not be encrypted for a master key (or the key type is not supported). */
export class MasterKeyError extends ToolError {}

/** Shamir secret sharing parameters or shares are invalid. */
export class ShamirError extends ToolError {}

// --- file stores and the metadata section (helper "sops-stores") ---

/** A file could not be parsed by its store: names the file (when known) and the line. */
export class StoreParseError extends ToolError {}

/**
 * A document cannot be written in a store's format (nested values in dotenv, non-section
 * items in INI...).
 */
export class StoreEmitError extends ToolError {}

/** The `sops` metadata section is missing or malformed (bad timestamp, no keys, wrong types). */
export class MetadataError extends ToolError {}

// --- limits on hostile or oversized documents (docs/documents.md "Limits") ---

/**
 * A document exceeds a limit coffer sets so that hostile input cannot exhaust its stack,
 * time or memory: nesting too deep, YAML aliases that expand too far (a YAML bomb), or a
 * file too large for the memory Node may use. A StoreParseError, so code that handles bad
 * files handles it too; `instanceof DocumentLimitError` tells it apart.
 */
export class DocumentLimitError extends StoreParseError {}
