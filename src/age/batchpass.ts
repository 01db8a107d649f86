/**
 * `-j batchpass` built in: what age 1.3's `age-plugin-batchpass` does (docs/formats/age.md
 * "Plugins", "batchpass"), without a plugin process. The passphrase comes from
 * `AGE_PASSPHRASE` or from the file descriptor named by `AGE_PASSPHRASE_FD` (exactly one of
 * them must be set; trailing CR/LF are stripped from what the descriptor holds, at most
 * 1 MiB). Encryption is an scrypt recipient (work factor `AGE_PASSPHRASE_WORK_FACTOR`,
 * 1..30, default 18); decryption accepts work factors up to `AGE_PASSPHRASE_MAX_WORK_FACTOR`
 * (1..30) or, when it is unset, up to 22: the plugin leaves the scrypt identity's own limit
 * in place then (docs/formats/age.md "batchpass"). Unlike `-p`, the identity insists on a
 * passphrase-encrypted file and says "incorrect passphrase" rather than "no match", since it
 * is meant to be used alone from scripts.
 *
 * Reading the environment and the descriptor is passed in (`BatchpassSource`), so the core
 * stays testable; the command line gives it `process.env` and `readFileDescriptor`.
 */
import { readSync } from "node:fs"
import { decodeUtf8 } from "../internal/bytes.js"
import { UsageError } from "../internal/errors.js"
import type { Entropy } from "../internal/entropy.js"
import { NoIdentityMatchError, PassphraseError } from "./errors.js"
import type { Identity, LabeledRecipient, Stanza } from "./recipient.js"
import {
  DEFAULT_MAX_SCRYPT_WORK_FACTOR,
  DEFAULT_SCRYPT_WORK_FACTOR,
  SCRYPT_STANZA_TYPE,
  ScryptIdentity,
  ScryptRecipient,
  scryptNotAloneError,
} from "./scrypt.js"

/** The `-j` name that selects batchpass. */
export const BATCHPASS_PLUGIN_NAME = "batchpass"

/** The largest passphrase read from `AGE_PASSPHRASE_FD` (as the plugin: 1 MiB). */
export const MAX_FD_PASSPHRASE_BYTES: number = 1024 * 1024

/**
 * The highest decryption work factor batchpass accepts unless `AGE_PASSPHRASE_MAX_WORK_FACTOR`
 * says otherwise: the scrypt identity's default, as age-plugin-batchpass 1.3.2 has it.
 */
export const DEFAULT_BATCHPASS_MAX_WORK_FACTOR: number = DEFAULT_MAX_SCRYPT_WORK_FACTOR

/** Where batchpass reads its settings. */
export interface BatchpassSource {
  /** The environment (the command line passes `process.env`). */
  readonly env: Readonly<Record<string, string | undefined>>
  /**
   * Reads a file descriptor to its end, or up to `maxBytes` bytes.
   * @throws anything: it becomes a PassphraseError naming the descriptor
   */
  readonly readFd: (fd: number, maxBytes: number) => Uint8Array
}

/**
 * Reads the passphrase from `AGE_PASSPHRASE` or `AGE_PASSPHRASE_FD`.
 * @returns the passphrase (never empty)
 * @throws PassphraseError when both or neither are set, the descriptor can't be read, is
 *   too long, is not UTF-8, or the passphrase is empty
 */
export function readBatchpassPassphrase(source: BatchpassSource): string {
  const direct = source.env["AGE_PASSPHRASE"] ?? ""
  const fdText = source.env["AGE_PASSPHRASE_FD"] ?? ""
  if (direct !== "" && fdText !== "") {
    throw new PassphraseError("AGE_PASSPHRASE and AGE_PASSPHRASE_FD are mutually exclusive", {
      hints: ["unset one of them"],
    })
  }
  if (direct === "" && fdText === "") {
    throw new PassphraseError("either AGE_PASSPHRASE or AGE_PASSPHRASE_FD must be set", {
      hints: ["for example: AGE_PASSPHRASE_FD=3 coffer age -d -j batchpass FILE 3< passphrase.txt"],
    })
  }
  if (direct !== "") return direct
  if (!/^[0-9]+$/.test(fdText) || !Number.isSafeInteger(Number(fdText))) {
    throw new PassphraseError(`invalid AGE_PASSPHRASE_FD ${JSON.stringify(fdText)}`, {
      hints: ["AGE_PASSPHRASE_FD is the number of an open file descriptor, such as 3"],
    })
  }
  const fd = Number(fdText)
  let bytes: Uint8Array
  try {
    bytes = source.readFd(fd, MAX_FD_PASSPHRASE_BYTES + 1)
  } catch (cause) {
    throw new PassphraseError(`failed to read the passphrase from file descriptor ${fdText}`, {
      cause,
      hints: [`open the descriptor for the command, for example: 3< passphrase.txt`],
    })
  }
  if (bytes.length > MAX_FD_PASSPHRASE_BYTES) {
    throw new PassphraseError(`passphrase from file descriptor ${fdText} is longer than 1 MiB`)
  }
  let text: string
  try {
    text = decodeUtf8(bytes)
  } catch (cause) {
    throw new PassphraseError(`passphrase from file descriptor ${fdText} is not valid UTF-8`, {
      cause,
    })
  } finally {
    bytes.fill(0)
  }
  // as the plugin: strip every trailing CR and LF, keep the rest (even other lines)
  const passphrase = text.replace(/[\r\n]+$/, "")
  if (passphrase === "") {
    throw new PassphraseError(`passphrase from file descriptor ${fdText} is empty`)
  }
  return passphrase
}

/**
 * Reads a work-factor variable (`AGE_PASSPHRASE_WORK_FACTOR`,
 * `AGE_PASSPHRASE_MAX_WORK_FACTOR`).
 * @returns the value, or undefined when unset or empty
 * @throws UsageError unless it is an integer from 1 to 30
 */
export function readWorkFactorVariable(
  env: Readonly<Record<string, string | undefined>>,
  name: string,
): number | undefined {
  const value = env[name] ?? ""
  if (value === "") return undefined
  const n = Number(value)
  if (!/^[+-]?[0-9]+$/.test(value) || !Number.isSafeInteger(n)) {
    throw new UsageError(`invalid ${name} ${JSON.stringify(value)}: not a number`)
  }
  if (n < 1 || n > 30) throw new UsageError(`${name} must be between 1 and 30`)
  return n
}

/** `-e -j batchpass`: an scrypt recipient whose passphrase comes from the environment. */
export class BatchpassRecipient implements LabeledRecipient {
  readonly #scrypt: ScryptRecipient

  /**
   * @param passphrase the passphrase (not empty)
   * @param opts.workFactor scrypt work factor, 1..30 (default 18)
   * @param opts.entropy randomness for the salt and label
   * @throws PassphraseError on an empty passphrase
   */
  constructor(passphrase: string, opts: { workFactor?: number; entropy?: Entropy } = {}) {
    this.#scrypt = new ScryptRecipient(passphrase, {
      workFactor: opts.workFactor ?? DEFAULT_SCRYPT_WORK_FACTOR,
      ...(opts.entropy === undefined ? {} : { entropy: opts.entropy }),
    })
  }

  /**
   * Reads the passphrase and `AGE_PASSPHRASE_WORK_FACTOR` now (at construction time).
   * @returns the recipient
   * @throws PassphraseError, UsageError (see `readBatchpassPassphrase`, `readWorkFactorVariable`)
   */
  static fromEnvironment(
    source: BatchpassSource,
    opts: { entropy?: Entropy } = {},
  ): BatchpassRecipient {
    const workFactor = readWorkFactorVariable(source.env, "AGE_PASSPHRASE_WORK_FACTOR")
    return new BatchpassRecipient(readBatchpassPassphrase(source), {
      ...(workFactor === undefined ? {} : { workFactor }),
      ...opts,
    })
  }

  /** The scrypt label: a passphrase file has no other recipient. */
  get labels(): readonly string[] {
    return this.#scrypt.labels
  }

  /** @returns one scrypt stanza */
  wrapFileKey(fileKey: Uint8Array): Promise<readonly Stanza[]> {
    return this.#scrypt.wrapFileKey(fileKey)
  }
}

/** `-d -j batchpass`: an scrypt identity whose passphrase comes from the environment. */
export class BatchpassIdentity implements Identity {
  readonly #scrypt: ScryptIdentity

  /**
   * @param passphrase the passphrase
   * @param opts.maxWorkFactor the highest work factor to compute (default 22, as the plugin)
   */
  constructor(passphrase: string, opts: { maxWorkFactor?: number } = {}) {
    this.#scrypt = new ScryptIdentity(passphrase, {
      maxWorkFactor: opts.maxWorkFactor ?? DEFAULT_BATCHPASS_MAX_WORK_FACTOR,
    })
  }

  /**
   * Reads the passphrase and `AGE_PASSPHRASE_MAX_WORK_FACTOR` now (at construction time).
   * @returns the identity
   * @throws PassphraseError, UsageError (see `readBatchpassPassphrase`, `readWorkFactorVariable`)
   */
  static fromEnvironment(source: BatchpassSource): BatchpassIdentity {
    const maxWorkFactor = readWorkFactorVariable(source.env, "AGE_PASSPHRASE_MAX_WORK_FACTOR")
    return new BatchpassIdentity(
      readBatchpassPassphrase(source),
      maxWorkFactor === undefined ? {} : { maxWorkFactor },
    )
  }

  /**
   * @returns the file key
   * @throws HeaderError if the scrypt stanza is not alone or is malformed (or its work factor
   *   is above the maximum); NoIdentityMatchError if the file is not passphrase-encrypted;
   *   PassphraseError if the passphrase is wrong
   */
  async unwrapFileKey(stanzas: readonly Stanza[]): Promise<Uint8Array | null> {
    if (stanzas.some((s) => s.type === SCRYPT_STANZA_TYPE) && stanzas.length !== 1) {
      throw scryptNotAloneError()
    }
    if (stanzas.length !== 1 || stanzas[0]?.type !== SCRYPT_STANZA_TYPE) {
      // Like the plugin: no falling back to other identities, batchpass is meant to be alone.
      throw new NoIdentityMatchError(
        stanzas.map((s) => s.type),
        { hints: ["the file is not passphrase-encrypted, so -j batchpass can't decrypt it"] },
      )
    }
    const fileKey = await this.#scrypt.unwrapFileKey(stanzas)
    if (fileKey === null) {
      throw new PassphraseError("incorrect passphrase", {
        hints: ["check AGE_PASSPHRASE or what AGE_PASSPHRASE_FD points to"],
      })
    }
    return fileKey
  }
}

/**
 * Reads a file descriptor synchronously to its end, or to `maxBytes` bytes (the reader the
 * command line gives `BatchpassSource`). The descriptor is left open: the caller owns it.
 * @returns the bytes read
 * @throws the system error (EBADF for a descriptor that isn't open)
 */
export function readFileDescriptor(fd: number, maxBytes: number): Uint8Array {
  const chunks: Buffer[] = []
  let total = 0
  const buffer = Buffer.alloc(64 * 1024)
  while (total < maxBytes) {
    let n: number
    try {
      n = readSync(fd, buffer, 0, Math.min(buffer.length, maxBytes - total), null)
    } catch (error) {
      // a non-blocking pipe with nothing yet: wait for the writer (this is a one-off read)
      if ((error as NodeJS.ErrnoException).code === "EAGAIN") {
        Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 10)
        continue
      }
      throw error
    }
    if (n === 0) break
    chunks.push(Buffer.from(buffer.subarray(0, n)))
    total += n
  }
  buffer.fill(0)
  const out = new Uint8Array(Buffer.concat(chunks))
  for (const chunk of chunks) chunk.fill(0)
  return out
}
