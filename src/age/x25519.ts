/**
 * The native X25519 recipient type (docs/formats/age.md "X25519"): `age1…` recipients and
 * `AGE-SECRET-KEY-1…` identities, stanza `-> X25519 <base64 ephemeral share>` with a 32-byte
 * body (the file key sealed with ChaCha20-Poly1305 under an HKDF-derived wrap key).
 * X25519 itself is node:crypto's (OpenSSL).
 */
import {
  createCipheriv,
  createDecipheriv,
  createPrivateKey,
  createPublicKey,
  diffieHellman,
  hkdfSync,
} from "node:crypto"
import type { KeyObject } from "node:crypto"
import { concatBytes, wipeBytes } from "../internal/bytes.js"
import { InternalError } from "../internal/errors.js"
import { systemEntropy } from "../internal/entropy.js"
import type { Entropy } from "../internal/entropy.js"
import { decodeBase64Strict, encodeBase64 } from "./base64.js"
import { decodeBech32, encodeBech32 } from "./bech32.js"
import { HeaderError, IdentityParseError, RecipientParseError } from "./errors.js"
import type { Identity, LabeledRecipient, Stanza } from "./recipient.js"

const STANZA_TYPE = "X25519"
const WRAP_INFO = "age-encryption.org/v1/X25519"
const RECIPIENT_HRP = "age"
const IDENTITY_HRP = "AGE-SECRET-KEY-"
const ZERO_NONCE = new Uint8Array(12)

// Keys go in and out of node:crypto as JWKs: OpenSSL then takes the raw bytes as they are,
// where DER first starts its decoder machinery (about 1.5 ms of a cold `coffer age -d`).

function base64url(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length).toString("base64url")
}

/** @returns a node:crypto private key for a raw 32-byte X25519 scalar */
export function x25519PrivateKey(scalar: Uint8Array): KeyObject {
  // node:crypto wants "x" to be a string, but derives a private key from "d" alone
  const jwk = { kty: "OKP", crv: "X25519", d: base64url(scalar), x: "" }
  return createPrivateKey({ key: jwk, format: "jwk" })
}

/** @returns a node:crypto public key for a raw 32-byte X25519 point */
export function x25519PublicKey(point: Uint8Array): KeyObject {
  return createPublicKey({ key: { kty: "OKP", crv: "X25519", x: base64url(point) }, format: "jwk" })
}

/** @returns the raw 32-byte public point of an X25519 key */
export function x25519RawPublic(key: KeyObject): Uint8Array {
  const { x } = createPublicKey(key).export({ format: "jwk" })
  if (typeof x !== "string") throw new InternalError("an X25519 public key exported without x")
  return new Uint8Array(Buffer.from(x, "base64url"))
}

/**
 * X25519(scalar, point).
 * @returns the 32-byte shared secret
 * @throws HeaderError when it is all zeros (a low-order or identity point)
 */
export function x25519SharedSecret(scalar: KeyObject, point: Uint8Array, what: string): Uint8Array {
  try {
    const secret = new Uint8Array(
      diffieHellman({ privateKey: scalar, publicKey: x25519PublicKey(point) }),
    )
    if (secret.every((b) => b === 0)) throw new Error("all-zero shared secret")
    return secret
  } catch (cause) {
    // spec: an all-zero shared secret (low-order point) is a hard error
    throw new HeaderError(`${what}: invalid X25519 share (low-order point)`, { cause })
  }
}

/** Seals a 16-byte file key with ChaCha20-Poly1305 under a single-use key and a zero nonce. */
export function sealFileKey(wrapKey: Uint8Array, fileKey: Uint8Array): Uint8Array {
  const cipher = createCipheriv("chacha20-poly1305", wrapKey, ZERO_NONCE, { authTagLength: 16 })
  return concatBytes(cipher.update(fileKey), cipher.final(), cipher.getAuthTag())
}

/** @returns the 16-byte file key, or null when the tag does not verify */
export function openFileKey(wrapKey: Uint8Array, body: Uint8Array): Uint8Array | null {
  if (body.length < 16) return null
  const decipher = createDecipheriv("chacha20-poly1305", wrapKey, ZERO_NONCE, {
    authTagLength: 16,
  })
  decipher.setAuthTag(body.subarray(body.length - 16))
  const head = decipher.update(body.subarray(0, body.length - 16))
  try {
    return concatBytes(head, decipher.final())
  } catch {
    head.fill(0)
    return null
  }
}

function deriveWrapKey(secret: Uint8Array, share: Uint8Array, recipient: Uint8Array): Uint8Array {
  return new Uint8Array(hkdfSync("sha256", secret, concatBytes(share, recipient), WRAP_INFO, 32))
}

/** An `age1…` recipient. */
export class X25519Recipient implements LabeledRecipient {
  /** Native recipients have the empty label set. */
  readonly labels: readonly string[] = []
  /** The 32-byte public point. */
  readonly publicKey: Uint8Array
  readonly #entropy: Entropy

  /**
   * @param publicKey the 32-byte X25519 public key
   * @param opts.entropy source of the ephemeral secrets (default: the system CSPRNG)
   */
  constructor(publicKey: Uint8Array, opts: { entropy?: Entropy } = {}) {
    if (publicKey.length !== 32) throw new RecipientParseError("X25519 public key is not 32 bytes")
    this.publicKey = publicKey.slice()
    this.#entropy = opts.entropy ?? systemEntropy
  }

  /** @returns the stanza `-> X25519 <share>` wrapping `fileKey` to this recipient */
  wrapFileKey(fileKey: Uint8Array): Promise<readonly Stanza[]> {
    const ephemeral = this.#entropy(32)
    const ephemeralKey = x25519PrivateKey(ephemeral)
    wipeBytes(ephemeral)
    const share = x25519RawPublic(ephemeralKey)
    const secret = x25519SharedSecret(ephemeralKey, this.publicKey, "X25519 recipient")
    const wrapKey = deriveWrapKey(secret, share, this.publicKey)
    wipeBytes(secret)
    const body = sealFileKey(wrapKey, fileKey)
    wipeBytes(wrapKey)
    return Promise.resolve([{ type: STANZA_TYPE, args: [encodeBase64(share)], body }])
  }

  /** @returns the `age1…` string */
  encode(): string {
    return encodeBech32(RECIPIENT_HRP, this.publicKey)
  }

  /** @returns the `age1…` string (public, safe to print) */
  toString(): string {
    return this.encode()
  }
}

/** An `AGE-SECRET-KEY-1…` identity. */
export class X25519Identity implements Identity {
  readonly #secret: Uint8Array
  readonly #key: KeyObject
  readonly #publicKey: Uint8Array

  /** @param secret the 32-byte X25519 secret scalar */
  constructor(secret: Uint8Array) {
    if (secret.length !== 32) throw new IdentityParseError("X25519 secret key is not 32 bytes")
    this.#secret = secret.slice()
    this.#key = x25519PrivateKey(this.#secret)
    this.#publicKey = x25519RawPublic(this.#key)
  }

  /** @returns the recipient for this identity */
  toRecipient(opts: { entropy?: Entropy } = {}): X25519Recipient {
    return new X25519Recipient(this.#publicKey, opts)
  }

  /**
   * @returns the `AGE-SECRET-KEY-1…` string. It is a secret: never log it. (There is
   *   deliberately no `toString`, so it can't leak through a template string.)
   */
  encode(): string {
    return encodeBech32(IDENTITY_HRP, this.#secret)
  }

  /**
   * @returns the file key from the first X25519 stanza that opens, or null
   * @throws HeaderError on a malformed X25519 stanza or a low-order share
   */
  unwrapFileKey(stanzas: readonly Stanza[]): Promise<Uint8Array | null> {
    for (const stanza of stanzas) {
      if (stanza.type !== STANZA_TYPE) continue
      if (stanza.args.length !== 1) {
        return Promise.reject(new HeaderError("X25519 stanza: wrong number of arguments"))
      }
      let share: Uint8Array
      try {
        share = decodeBase64Strict(stanza.args[0] ?? "", "X25519 stanza share")
        if (share.length !== 32) throw new HeaderError("X25519 stanza: share is not 32 bytes")
        // spec: check the body length before trying to decrypt (multi-key attacks)
        if (stanza.body.length !== 32) throw new HeaderError("X25519 stanza: body is not 32 bytes")
      } catch (error) {
        return Promise.reject(error instanceof Error ? error : new Error(String(error)))
      }
      let secret: Uint8Array
      try {
        secret = x25519SharedSecret(this.#key, share, "X25519 stanza")
      } catch (error) {
        return Promise.reject(error instanceof Error ? error : new Error(String(error)))
      }
      const wrapKey = deriveWrapKey(secret, share, this.#publicKey)
      wipeBytes(secret)
      const fileKey = openFileKey(wrapKey, stanza.body)
      wipeBytes(wrapKey)
      if (fileKey !== null) return Promise.resolve(fileKey)
    }
    return Promise.resolve(null)
  }
}

/**
 * Parses an `age1…` recipient.
 * @throws RecipientParseError if it is not a valid X25519 recipient
 */
export function parseX25519Recipient(
  text: string,
  opts: { entropy?: Entropy } = {},
): X25519Recipient {
  let decoded: { hrp: string; data: Uint8Array }
  try {
    decoded = decodeBech32(text)
  } catch (cause) {
    throw new RecipientParseError(`invalid recipient ${JSON.stringify(text.slice(0, 80))}`, {
      cause,
      hints: ["an X25519 recipient is age1 followed by 58 lower-case characters"],
    })
  }
  if (decoded.hrp !== RECIPIENT_HRP || decoded.data.length !== 32) {
    throw new RecipientParseError(`invalid X25519 recipient ${JSON.stringify(text.slice(0, 80))}`, {
      hints: ["an X25519 recipient is age1 followed by 58 lower-case characters"],
    })
  }
  return new X25519Recipient(decoded.data, opts)
}

/**
 * Parses an `AGE-SECRET-KEY-1…` identity.
 * @throws IdentityParseError if it is not a valid X25519 identity (the message never
 *   includes the text, which may be a secret)
 */
export function parseX25519Identity(text: string): X25519Identity {
  let decoded: { hrp: string; data: Uint8Array }
  try {
    decoded = decodeBech32(text)
  } catch (cause) {
    throw new IdentityParseError("invalid X25519 identity: malformed Bech32", {
      cause,
      hints: ["an X25519 identity is AGE-SECRET-KEY-1 followed by 58 upper-case characters"],
    })
  }
  if (decoded.hrp !== IDENTITY_HRP || decoded.data.length !== 32) {
    throw new IdentityParseError("invalid X25519 identity: wrong type or length", {
      hints: ["an X25519 identity is AGE-SECRET-KEY-1 followed by 58 upper-case characters"],
    })
  }
  const identity = new X25519Identity(decoded.data)
  wipeBytes(decoded.data)
  return identity
}

/**
 * Generates a new X25519 identity.
 * @param entropy source of the 32 secret bytes (default: the system CSPRNG)
 */
export function generateX25519Identity(entropy: Entropy = systemEntropy): X25519Identity {
  const secret = entropy(32)
  const identity = new X25519Identity(secret)
  wipeBytes(secret)
  return identity
}
