/**
 * The post-quantum hybrid recipient type `mlkem768x25519` (docs/formats/age.md
 * "mlkem768x25519", age v1.3).
 *
 * The KEM is MLKEM768-X25519 (identical to X-Wing): an identity is a 32-byte seed that
 * SHAKE256 expands into an ML-KEM-768 key pair and an X25519 key; a recipient is the
 * 1216-byte public key (ML-KEM-768 encapsulation key ‖ X25519 public key). The file key is
 * wrapped with HPKE (RFC 9180) base mode: KEM 0x647a, HKDF-SHA256, ChaCha20Poly1305,
 * info "age-encryption.org/mlkem768x25519". Hybrid recipients carry the `postquantum`
 * label, so they are never mixed with classic ones (docs/formats/age.md "Labels").
 *
 * ML-KEM comes from @noble/post-quantum (Node 20 has no ML-KEM); it is imported lazily
 * inside wrap/unwrap so that commands that never touch a hybrid key don't load it. X25519,
 * SHA3-256, SHAKE256, HMAC and ChaCha20-Poly1305 come from node:crypto (OpenSSL).
 */
import {
  createHash,
  createPrivateKey,
  createPublicKey,
  diffieHellman,
  type KeyObject,
} from "node:crypto"
import type { MLKEM } from "@noble/post-quantum/ml-kem.js"
import type { Identity, LabeledRecipient, Stanza } from "./recipient.js"
import { HeaderError, IdentityParseError, RecipientParseError } from "./errors.js"
import { decodeBase64Strict, encodeBase64 } from "./base64.js"
import { decodeBech32, encodeBech32 } from "./bech32.js"
import { concatBytes, encodeUtf8, wipeBytes } from "../internal/bytes.js"
import { openHpkeBase, sealHpkeBase } from "./hpke.js"
import { systemEntropy, type Entropy } from "../internal/entropy.js"

/** The stanza type of a hybrid recipient. */
export const HYBRID_STANZA_TYPE = "mlkem768x25519"

const RECIPIENT_HRP = "age1pq"
const IDENTITY_HRP = "AGE-SECRET-KEY-PQ-"
const HPKE_INFO = encodeUtf8("age-encryption.org/mlkem768x25519")

const SEED_LENGTH = 32
const MLKEM_PUBLIC_KEY_LENGTH = 1184
const MLKEM_CIPHERTEXT_LENGTH = 1088
const X25519_LENGTH = 32
const PUBLIC_KEY_LENGTH = MLKEM_PUBLIC_KEY_LENGTH + X25519_LENGTH // 1216
const ENCAPSULATION_LENGTH = MLKEM_CIPHERTEXT_LENGTH + X25519_LENGTH // 1120
const FILE_KEY_LENGTH = 16
const TAG_LENGTH = 16

// X-Wing's combiner label, the six bytes `\.//^\`.
const XWING_LABEL = Uint8Array.of(0x5c, 0x2e, 0x2f, 0x2f, 0x5e, 0x5c)

// The HPKE suite's KEM: X-Wing (0x647a), with HKDF-SHA256 and ChaCha20Poly1305 (hpke.ts).
const KEM_XWING = 0x647a

// DER prefixes that turn a raw 32-byte X25519 key into a key node:crypto accepts.
const X25519_PKCS8_PREFIX = Uint8Array.from([
  0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x6e, 0x04, 0x22, 0x04, 0x20,
])
const X25519_SPKI_PREFIX = Uint8Array.from([
  0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x6e, 0x03, 0x21, 0x00,
])

// A type-only import: erased at compile time, so ML-KEM still loads lazily.
type MlKem768 = MLKEM
let mlKemModule: Promise<MlKem768> | undefined

/**
 * Loads ML-KEM-768 on first use (keeps @noble/post-quantum out of start-up); also used by
 * the tagged hybrid recipient (tag.ts).
 * @returns the ML-KEM-768 module
 */
export function loadMlKem768(): Promise<MlKem768> {
  mlKemModule ??= import("@noble/post-quantum/ml-kem.js").then((m) => m.ml_kem768)
  return mlKemModule
}

/** A post-quantum hybrid recipient (`age1pq1…`), carrying the label `postquantum`. */
export class HybridRecipient implements LabeledRecipient {
  readonly labels: readonly string[] = ["postquantum"]
  readonly #publicKey: Uint8Array
  readonly #entropy: Entropy

  /**
   * @param publicKey the 1216-byte MLKEM768-X25519 public key
   * @param entropy randomness for encapsulation (the system CSPRNG by default)
   * @throws RecipientParseError if the key has the wrong length or an invalid ML-KEM half
   */
  constructor(publicKey: Uint8Array, entropy: Entropy = systemEntropy) {
    checkPublicKey(publicKey)
    this.#publicKey = publicKey.slice()
    this.#entropy = entropy
  }

  /** @returns a copy of the 1216-byte public key */
  get publicKey(): Uint8Array {
    return this.#publicKey.slice()
  }

  /** @returns the Bech32 recipient string `age1pq1…` (about 1959 characters) */
  encode(): string {
    return encodeBech32(RECIPIENT_HRP, this.#publicKey)
  }

  /** @returns the same as `encode()` (a recipient is public) */
  toString(): string {
    return this.encode()
  }

  /**
   * Encapsulates to the recipient's key and seals the file key with HPKE.
   * @param fileKey the 16-byte file key
   * @returns one `mlkem768x25519` stanza
   */
  async wrapFileKey(fileKey: Uint8Array): Promise<readonly Stanza[]> {
    const mlKem = await loadMlKem768()
    const mlKemPublicKey = this.#publicKey.subarray(0, MLKEM_PUBLIC_KEY_LENGTH)
    const x25519PublicKey = this.#publicKey.subarray(MLKEM_PUBLIC_KEY_LENGTH)

    const randomness = this.#entropy(32)
    const mlKemResult = mlKem.encapsulate(mlKemPublicKey, randomness)
    wipeBytes(randomness)

    const ephemeralSecret = this.#entropy(X25519_LENGTH)
    const ephemeralKey = x25519PrivateKey(ephemeralSecret)
    wipeBytes(ephemeralSecret)
    const ephemeralPublic = x25519PublicKeyBytes(ephemeralKey)
    const x25519Shared = x25519SharedSecret(ephemeralKey, x25519PublicKey)
    if (x25519Shared === null) {
      throw new RecipientParseError("hybrid recipient has a low-order x25519 public key", {
        hints: ["the recipient string is corrupted or was not made by age-keygen -pq"],
      })
    }

    const sharedSecret = combineSharedSecrets(
      mlKemResult.sharedSecret,
      x25519Shared,
      ephemeralPublic,
      x25519PublicKey,
    )
    wipeBytes(mlKemResult.sharedSecret)
    wipeBytes(x25519Shared)

    const body = sealHpkeBase(KEM_XWING, sharedSecret, HPKE_INFO, fileKey)
    wipeBytes(sharedSecret)

    const encapsulation = concatBytes(mlKemResult.cipherText, ephemeralPublic)
    return [{ type: HYBRID_STANZA_TYPE, args: [encodeBase64(encapsulation)], body }]
  }
}

/** A post-quantum hybrid identity (`AGE-SECRET-KEY-PQ-1…`), stored as its 32-byte seed. */
export class HybridIdentity implements Identity {
  readonly #seed: Uint8Array
  #keys: Promise<ExpandedKeys> | undefined

  /**
   * @param seed the 32-byte secret seed
   * @throws IdentityParseError if the seed is not 32 bytes
   */
  constructor(seed: Uint8Array) {
    if (seed.length !== SEED_LENGTH) {
      throw new IdentityParseError(
        `hybrid identity seed must be ${String(SEED_LENGTH)} bytes, got ${String(seed.length)}`,
      )
    }
    this.#seed = seed.slice()
  }

  /**
   * @returns the Bech32 identity string `AGE-SECRET-KEY-PQ-1…` (upper case). It is a
   *   secret: never log it. (There is deliberately no `toString`, as for X25519Identity, so
   *   it can't leak through a template string.)
   */
  encode(): string {
    return encodeBech32(IDENTITY_HRP, this.#seed)
  }

  /**
   * Derives the public key (this loads ML-KEM, hence async).
   * @param opts.entropy randomness the returned recipient will use when wrapping
   * @returns the matching recipient
   */
  async toRecipient(opts: { entropy?: Entropy } = {}): Promise<HybridRecipient> {
    const keys = await this.#expand()
    return new HybridRecipient(keys.publicKey, opts.entropy ?? systemEntropy)
  }

  /**
   * Tries every `mlkem768x25519` stanza (docs/formats/age.md "mlkem768x25519").
   * @returns the file key, or null when no stanza is for this identity
   * @throws HeaderError on a malformed `mlkem768x25519` stanza (argument count, encoding
   *   or length, body length, low-order X25519 share)
   */
  async unwrapFileKey(stanzas: readonly Stanza[]): Promise<Uint8Array | null> {
    for (const stanza of stanzas) {
      if (stanza.type !== HYBRID_STANZA_TYPE) continue
      const fileKey = await this.#unwrapStanza(stanza)
      if (fileKey !== null) return fileKey
    }
    return null
  }

  async #unwrapStanza(stanza: Stanza): Promise<Uint8Array | null> {
    const encapsulation = parseEncapsulation(stanza)
    // spec: check the body length before decrypting (partitioning-oracle mitigation)
    if (stanza.body.length !== FILE_KEY_LENGTH + TAG_LENGTH) {
      throw new HeaderError(
        `${HYBRID_STANZA_TYPE} stanza body must be ${String(FILE_KEY_LENGTH + TAG_LENGTH)} bytes, got ${String(stanza.body.length)}`,
      )
    }
    const mlKem = await loadMlKem768()
    const keys = await this.#expand()
    const mlKemCiphertext = encapsulation.subarray(0, MLKEM_CIPHERTEXT_LENGTH)
    const share = encapsulation.subarray(MLKEM_CIPHERTEXT_LENGTH)

    const x25519Shared = x25519SharedSecret(keys.x25519Key, share)
    if (x25519Shared === null) {
      throw new HeaderError(`${HYBRID_STANZA_TYPE} stanza has a low-order x25519 share`, {
        hints: ["the file is corrupted or was crafted to attack the recipient"],
      })
    }
    // ML-KEM decapsulation never fails: a wrong key gives a pseudorandom secret (implicit
    // rejection), and the AEAD below then fails, which means "not for this identity".
    const mlKemShared = mlKem.decapsulate(mlKemCiphertext, keys.mlKemSecretKey)
    const sharedSecret = combineSharedSecrets(mlKemShared, x25519Shared, share, keys.x25519Public)
    wipeBytes(mlKemShared)
    wipeBytes(x25519Shared)
    const fileKey = openHpkeBase(KEM_XWING, sharedSecret, HPKE_INFO, stanza.body)
    wipeBytes(sharedSecret)
    return fileKey
  }

  #expand(): Promise<ExpandedKeys> {
    this.#keys ??= expandSeed(this.#seed)
    return this.#keys
  }
}

/**
 * Parses a hybrid recipient string.
 * @param text `age1pq1…` (lower case)
 * @param entropy randomness used when wrapping (the system CSPRNG by default)
 * @returns the recipient
 * @throws RecipientParseError if the string is not a valid hybrid recipient
 */
export function parseHybridRecipient(
  text: string,
  entropy: Entropy = systemEntropy,
): HybridRecipient {
  const data = decodeKeyString(text, RECIPIENT_HRP)
  if (data === null) {
    throw new RecipientParseError(`invalid hybrid recipient "${abbreviate(text)}"`, {
      hints: ["a post-quantum recipient is the age1pq1… line printed by age-keygen -pq"],
    })
  }
  return new HybridRecipient(data, entropy)
}

/**
 * Parses a hybrid identity string (the message never quotes it: it is a secret).
 * @param text `AGE-SECRET-KEY-PQ-1…` (upper case)
 * @returns the identity
 * @throws IdentityParseError if the string is not a valid hybrid identity
 */
export function parseHybridIdentity(text: string): HybridIdentity {
  const data = decodeKeyString(text, IDENTITY_HRP)
  if (data === null || data.length !== SEED_LENGTH) {
    throw new IdentityParseError("invalid hybrid identity (AGE-SECRET-KEY-PQ-1…)", {
      hints: ["a post-quantum identity is the AGE-SECRET-KEY-PQ-1… line written by age-keygen -pq"],
    })
  }
  const identity = new HybridIdentity(data)
  wipeBytes(data)
  return identity
}

/**
 * Generates a new hybrid identity from a fresh 32-byte seed.
 * @param entropy the randomness source (the system CSPRNG by default)
 * @returns the identity
 */
export function generateHybridIdentity(entropy: Entropy = systemEntropy): HybridIdentity {
  const seed = entropy(SEED_LENGTH)
  const identity = new HybridIdentity(seed)
  wipeBytes(seed)
  return identity
}

interface ExpandedKeys {
  readonly mlKemSecretKey: Uint8Array
  readonly x25519Key: KeyObject
  readonly x25519Public: Uint8Array
  readonly publicKey: Uint8Array
}

/** X-Wing key expansion: SHAKE256(seed) → 64-byte ML-KEM seed (d ‖ z) ‖ 32-byte X25519 key. */
async function expandSeed(seed: Uint8Array): Promise<ExpandedKeys> {
  const mlKem = await loadMlKem768()
  const expanded = new Uint8Array(
    createHash("shake256", { outputLength: 96 }).update(seed).digest(),
  )
  const { secretKey, publicKey: mlKemPublic } = mlKem.keygen(expanded.subarray(0, 64))
  const x25519Key = x25519PrivateKey(expanded.subarray(64))
  wipeBytes(expanded)
  const x25519Public = x25519PublicKeyBytes(x25519Key)
  return {
    mlKemSecretKey: secretKey,
    x25519Key,
    x25519Public,
    publicKey: concatBytes(mlKemPublic, x25519Public),
  }
}

/** X-Wing combiner: SHA3-256(ss_M ‖ ss_X ‖ ct_X ‖ pk_X ‖ label). */
function combineSharedSecrets(
  mlKemShared: Uint8Array,
  x25519Shared: Uint8Array,
  x25519Ciphertext: Uint8Array,
  x25519Public: Uint8Array,
): Uint8Array {
  return new Uint8Array(
    createHash("sha3-256")
      .update(mlKemShared)
      .update(x25519Shared)
      .update(x25519Ciphertext)
      .update(x25519Public)
      .update(XWING_LABEL)
      .digest(),
  )
}

function x25519PrivateKey(secret: Uint8Array): KeyObject {
  const der = concatBytes(X25519_PKCS8_PREFIX, secret)
  const key = createPrivateKey({ key: Buffer.from(der), format: "der", type: "pkcs8" })
  wipeBytes(der)
  return key
}

function x25519PublicKeyBytes(privateKey: KeyObject): Uint8Array {
  const der = createPublicKey(privateKey).export({ format: "der", type: "spki" })
  return new Uint8Array(der.subarray(X25519_SPKI_PREFIX.length))
}

/** @returns X25519(privateKey, publicKey), or null when the result is all zeros (low order) */
function x25519SharedSecret(privateKey: KeyObject, publicKey: Uint8Array): Uint8Array | null {
  const peer = createPublicKey({
    key: Buffer.from(concatBytes(X25519_SPKI_PREFIX, publicKey)),
    format: "der",
    type: "spki",
  })
  try {
    // OpenSSL refuses an all-zero result (ERR_OSSL_FAILED_DURING_DERIVATION).
    const shared = new Uint8Array(diffieHellman({ privateKey, publicKey: peer }))
    return shared.every((b) => b === 0) ? null : shared
  } catch {
    return null
  }
}

/** Checks the stanza arguments and decodes the 1120-byte encapsulation. */
function parseEncapsulation(stanza: Stanza): Uint8Array {
  if (stanza.args.length !== 1) {
    throw new HeaderError(
      `${HYBRID_STANZA_TYPE} stanza must have 1 argument, got ${String(stanza.args.length)}`,
    )
  }
  const encapsulation = decodeBase64Strict(
    stanza.args[0] ?? "",
    `${HYBRID_STANZA_TYPE} stanza encapsulation`,
  )
  if (encapsulation.length !== ENCAPSULATION_LENGTH) {
    throw new HeaderError(
      `${HYBRID_STANZA_TYPE} stanza encapsulation must be ${String(ENCAPSULATION_LENGTH)} bytes, got ${String(encapsulation.length)}`,
    )
  }
  return encapsulation
}

/**
 * Validates a public key: its length, and the FIPS 203 modulus check on the ML-KEM
 * encapsulation key (every 12-bit coefficient of t̂ below q = 3329).
 */
function checkPublicKey(publicKey: Uint8Array): void {
  if (publicKey.length !== PUBLIC_KEY_LENGTH) {
    throw new RecipientParseError(
      `hybrid recipient key must be ${String(PUBLIC_KEY_LENGTH)} bytes, got ${String(publicKey.length)}`,
    )
  }
  checkMlKem768EncapsulationKey(publicKey.subarray(0, MLKEM_PUBLIC_KEY_LENGTH))
}

/**
 * The FIPS 203 modulus check on an ML-KEM-768 encapsulation key: every 12-bit coefficient
 * of t̂ below q = 3329 (also used by the tagged hybrid recipient, tag.ts).
 * @param key the 1184-byte encapsulation key
 * @throws RecipientParseError when a coefficient is out of range
 */
export function checkMlKem768EncapsulationKey(key: Uint8Array): void {
  const polynomialBytes = MLKEM_PUBLIC_KEY_LENGTH - 32
  for (let i = 0; i < polynomialBytes; i += 3) {
    const b0 = key[i] ?? 0
    const b1 = key[i + 1] ?? 0
    const b2 = key[i + 2] ?? 0
    if ((b0 | ((b1 & 0x0f) << 8)) >= 3329 || ((b1 >> 4) | (b2 << 4)) >= 3329) {
      throw new RecipientParseError("the recipient has an invalid ML-KEM-768 key", {
        hints: ["the recipient string is corrupted"],
      })
    }
  }
}

/**
 * Decodes a key string, requiring the exact HRP in its original case (so a lower-case
 * identity or an upper-case recipient is refused, as age does).
 * @returns the data bytes, or null if the string is not valid
 */
function decodeKeyString(text: string, hrp: string): Uint8Array | null {
  try {
    const decoded = decodeBech32(text)
    return decoded.hrp === hrp ? decoded.data : null
  } catch {
    return null
  }
}

/** Shortens a (public) recipient string for an error message. */
function abbreviate(text: string): string {
  return text.length > 40 ? `${text.slice(0, 20)}…${text.slice(-8)}` : text
}
