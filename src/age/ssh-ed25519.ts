/**
 * The `ssh-ed25519` recipient type (docs/formats/age.md "SSH recipients", "ssh-ed25519"):
 * age encrypts to an SSH Ed25519 key by converting it to X25519 (the birational map for the
 * public key, SHA-512 of the seed for the private key) and mixing in a tweak derived from
 * the SSH wire key, so the converted key is never the same as a plain X25519 recipient. The
 * stanza is tagged with the first 4 bytes of SHA-256 of the wire key, so identities can
 * skip other keys' stanzas.
 *
 * Stanza: `-> ssh-ed25519 <tag> <base64 ephemeral share>` and the 32-byte wrapped file key.
 */
import { createHash, createPrivateKey, createPublicKey, hkdfSync } from "node:crypto"
import { decodeBase64Strict, encodeBase64 } from "./base64.js"
import type { Identity, Recipient, Stanza } from "./recipient.js"
import { unwrapFirstStanza } from "./recipient.js"
import { HeaderError, IdentityParseError, RecipientParseError } from "./errors.js"
import { encodeSshString } from "./ssh-wire.js"
import {
  openFileKey,
  sealFileKey,
  x25519PrivateKey,
  x25519RawPublic,
  x25519SharedSecret,
} from "./x25519.js"
import { asUint8Array, concatBytes, encodeUtf8, wipeBytes } from "../internal/bytes.js"
import type { Entropy } from "../internal/entropy.js"
import { systemEntropy } from "../internal/entropy.js"

const label = "age-encryption.org/v1/ssh-ed25519"
const stanzaType = "ssh-ed25519"

// Curve25519 field: p = 2^255 - 19; Edwards d = -121665/121666.
const p = 2n ** 255n - 19n
const edwardsD = mod(-121665n * invert(121666n))

function mod(a: bigint): bigint {
  const r = a % p
  return r < 0n ? r + p : r
}

function power(base: bigint, exponent: bigint): bigint {
  let result = 1n
  let b = mod(base)
  for (let e = exponent; e > 0n; e >>= 1n) {
    if (e & 1n) result = (result * b) % p
    b = (b * b) % p
  }
  return result
}

// Inverse by Fermat; 0 maps to 0, as in Go's field arithmetic.
function invert(a: bigint): bigint {
  return power(a, p - 2n)
}

function littleEndianToBigint(bytes: Uint8Array): bigint {
  let n = 0n
  for (let i = bytes.length - 1; i >= 0; i--) n = (n << 8n) | BigInt(bytes[i] ?? 0)
  return n
}

function bigintToLittleEndian(value: bigint, length: number): Uint8Array {
  const out = new Uint8Array(length)
  let n = value
  for (let i = 0; i < length; i++) {
    out[i] = Number(n & 0xffn)
    n >>= 8n
  }
  return out
}

/**
 * Converts an Ed25519 public key to the X25519 public key of the same secret, with the
 * birational map u = (1 + y) / (1 − y). Like Go, the point is first decoded as a valid
 * Edwards point: a y of p or more, or a y with no x on the curve, is rejected.
 * @param publicKey the 32-byte Ed25519 public key (little-endian y, sign of x in the top bit)
 * @returns the 32-byte X25519 u-coordinate, or null when `publicKey` is not a valid point
 */
export function ed25519PublicKeyToX25519(publicKey: Uint8Array): Uint8Array | null {
  if (publicKey.length !== 32) return null
  const encoded = littleEndianToBigint(publicKey)
  const xSign = encoded >> 255n
  const y = encoded & ((1n << 255n) - 1n)
  if (y >= p) return null
  // x² = (y² − 1) / (d·y² + 1) must have a square root (Euler's criterion).
  const y2 = (y * y) % p
  const x2 = mod((y2 - 1n) * invert(mod(edwardsD * y2 + 1n)))
  if (x2 !== 0n && power(x2, (p - 1n) / 2n) !== 1n) return null
  if (x2 === 0n && xSign === 1n) return null
  const u = mod((1n + y) * invert(mod(1n - y)))
  return bigintToLittleEndian(u, 32)
}

/**
 * Converts an Ed25519 private key seed to the matching X25519 secret: the first 32 bytes of
 * SHA-512(seed), the scalar Ed25519 itself uses (X25519 clamps it when used).
 * @returns the 32-byte X25519 secret (wipe it after use)
 */
export function ed25519SeedToX25519(seed: Uint8Array): Uint8Array {
  const digest = asUint8Array(createHash("sha512").update(seed).digest())
  const secret = digest.slice(0, 32)
  wipeBytes(digest)
  return secret
}

const pkcs8Ed25519Prefix = Uint8Array.from([
  0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20,
])
/** @returns the Ed25519 public key of a 32-byte seed */
export function ed25519PublicKeyFromSeed(seed: Uint8Array): Uint8Array {
  const der = concatBytes(pkcs8Ed25519Prefix, seed)
  const privateKey = createPrivateKey({ key: Buffer.from(der), format: "der", type: "pkcs8" })
  wipeBytes(der)
  const spki = createPublicKey(privateKey).export({ format: "der", type: "spki" })
  return new Uint8Array(spki.subarray(spki.length - 32))
}

// X25519(scalar, point) on raw bytes; OpenSSL clamps the scalar.
function x25519(scalar: Uint8Array, point: Uint8Array, what: string): Uint8Array {
  return x25519SharedSecret(x25519PrivateKey(scalar), point, what)
}

function hkdf(ikm: Uint8Array, salt: Uint8Array): Uint8Array {
  return new Uint8Array(hkdfSync("sha256", ikm, salt, encodeUtf8(label), 32))
}

/** @returns the SSH wire form of an Ed25519 public key: string "ssh-ed25519", string key */
export function encodeSshEd25519PublicKey(publicKey: Uint8Array): Uint8Array {
  return concatBytes(encodeSshString(encodeUtf8(stanzaType)), encodeSshString(publicKey))
}

/**
 * The stanza tag of an SSH key (docs/formats/age.md "SSH recipients"): base64 of the first
 * 4 bytes of SHA-256 of its wire form.
 * @returns the 6-character tag
 */
export function sshKeyTag(wirePublicKey: Uint8Array): string {
  const digest = createHash("sha256").update(wirePublicKey).digest()
  return encodeBase64(asUint8Array(digest).subarray(0, 4))
}

function tweakFor(wirePublicKey: Uint8Array): Uint8Array {
  // spec: the wire key is the HKDF *salt* and the input key material is empty.
  return hkdf(new Uint8Array(0), wirePublicKey)
}

/** Encrypts file keys to an SSH Ed25519 public key (`ssh-ed25519 AAAA…`). */
export class SshEd25519Recipient implements Recipient {
  /** The 32-byte Ed25519 public key. */
  readonly publicKey: Uint8Array
  /** The SSH wire form of the key (what the `.pub` line's base64 holds). */
  readonly wirePublicKey: Uint8Array
  /** The stanza tag, base64 of SHA-256(wire key)[:4]. */
  readonly tag: string
  readonly #montgomeryKey: Uint8Array
  readonly #entropy: Entropy

  /**
   * @param publicKey the 32-byte Ed25519 public key
   * @param opts.entropy where ephemeral keys come from (the system CSPRNG by default)
   * @throws RecipientParseError when the key is not a valid Ed25519 point
   */
  constructor(publicKey: Uint8Array, opts: { entropy?: Entropy } = {}) {
    const montgomery = ed25519PublicKeyToX25519(publicKey)
    if (montgomery === null) {
      throw new RecipientParseError("invalid ssh-ed25519 public key: not a point on the curve", {
        hints: ["check that the key line was copied whole from the .pub file"],
      })
    }
    this.publicKey = Uint8Array.from(publicKey)
    this.wirePublicKey = encodeSshEd25519PublicKey(publicKey)
    this.tag = sshKeyTag(this.wirePublicKey)
    this.#montgomeryKey = montgomery
    this.#entropy = opts.entropy ?? systemEntropy
  }

  /**
   * @param fileKey the 16-byte file key
   * @returns one `ssh-ed25519` stanza
   * @throws RecipientParseError when the key is a low-order point (no shared secret)
   */
  wrapFileKey(fileKey: Uint8Array): Promise<readonly Stanza[]> {
    const ephemeral = this.#entropy(32)
    try {
      const share = x25519RawPublic(x25519PrivateKey(ephemeral))
      let sharedSecret: Uint8Array
      try {
        const what = "ssh-ed25519 recipient"
        sharedSecret = x25519(
          tweakFor(this.wirePublicKey),
          x25519(ephemeral, this.#montgomeryKey, what),
          what,
        )
      } catch (cause) {
        throw new RecipientParseError("ssh-ed25519 recipient is a low-order point", { cause })
      }
      const wrapKey = hkdf(sharedSecret, concatBytes(share, this.#montgomeryKey))
      wipeBytes(sharedSecret)
      const body = sealFileKey(wrapKey, fileKey)
      wipeBytes(wrapKey)
      return Promise.resolve([{ type: stanzaType, args: [this.tag, encodeBase64(share)], body }])
    } catch (error) {
      return Promise.reject(error instanceof Error ? error : new Error(String(error)))
    } finally {
      wipeBytes(ephemeral)
    }
  }
}

/** Decrypts `ssh-ed25519` stanzas with an SSH Ed25519 private key. */
export class SshEd25519Identity implements Identity {
  /** The stanza tag this identity answers to. */
  readonly tag: string
  readonly #publicKey: Uint8Array
  readonly #wirePublicKey: Uint8Array
  readonly #secret: Uint8Array
  readonly #montgomeryKey: Uint8Array

  /**
   * @param seed the 32-byte Ed25519 private seed
   * @param publicKey the 32-byte public key stored with it
   * @throws IdentityParseError when the public key does not belong to the seed
   */
  constructor(seed: Uint8Array, publicKey: Uint8Array) {
    const derived = seed.length === 32 ? ed25519PublicKeyFromSeed(seed) : new Uint8Array(0)
    const montgomery = ed25519PublicKeyToX25519(publicKey)
    if (montgomery === null || Buffer.compare(derived, publicKey) !== 0) {
      throw new IdentityParseError("ssh-ed25519 private key does not match its public key", {
        hints: ["the key file may be corrupted; regenerate it with ssh-keygen -t ed25519"],
      })
    }
    this.#publicKey = Uint8Array.from(publicKey)
    this.#wirePublicKey = encodeSshEd25519PublicKey(publicKey)
    this.tag = sshKeyTag(this.#wirePublicKey)
    this.#secret = ed25519SeedToX25519(seed)
    this.#montgomeryKey = montgomery
  }

  /** @returns the recipient that encrypts to this identity */
  recipient(opts: { entropy?: Entropy } = {}): SshEd25519Recipient {
    return new SshEd25519Recipient(this.#publicKey, opts)
  }

  /**
   * @returns the file key from the first `ssh-ed25519` stanza with our tag, or null
   * @throws HeaderError when such a stanza is malformed or does not decrypt
   */
  unwrapFileKey(stanzas: readonly Stanza[]): Promise<Uint8Array | null> {
    return unwrapFirstStanza(stanzas, (stanza) => this.#unwrapStanza(stanza))
  }

  #unwrapStanza(stanza: Stanza): Uint8Array | null {
    if (stanza.type !== stanzaType) return null
    const [tag, shareText] = stanza.args
    if (stanza.args.length !== 2 || tag === undefined || shareText === undefined) {
      throw new HeaderError(
        `invalid ssh-ed25519 stanza: expected 2 arguments, got ${stanza.args.length}`,
      )
    }
    const share = decodeBase64Strict(shareText, "ssh-ed25519 stanza share")
    if (share.length !== 32) {
      throw new HeaderError(
        `invalid ssh-ed25519 stanza: the share is ${share.length} bytes, not 32`,
      )
    }
    if (tag !== this.tag) return null
    if (stanza.body.length !== 32) {
      throw new HeaderError(
        `invalid ssh-ed25519 stanza: the body is ${stanza.body.length} bytes, not 32`,
      )
    }
    // Both steps throw HeaderError on an all-zero result (a low-order share).
    const what = "ssh-ed25519 stanza"
    const sharedSecret = x25519(
      tweakFor(this.#wirePublicKey),
      x25519(this.#secret, share, what),
      what,
    )
    const wrapKey = hkdf(sharedSecret, concatBytes(share, this.#montgomeryKey))
    wipeBytes(sharedSecret)
    const fileKey = openFileKey(wrapKey, stanza.body)
    wipeBytes(wrapKey)
    if (fileKey === null) {
      throw new HeaderError(
        "failed to decrypt the file key of an ssh-ed25519 stanza with our tag",
        {
          hints: ["the file may be corrupted, or made for another key with the same tag"],
        },
      )
    }
    return fileKey
  }
}
