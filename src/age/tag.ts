/**
 * Tagged recipients (docs/formats/age.md "Tagged recipients", age 1.3 `tag/tag.go`):
 * `age1tag1…`, a compressed P-256 point, and `age1tagpq1…`, the hybrid ML-KEM-768 + P-256
 * public key. They are meant for identities kept on hardware keys, so there is only the
 * recipient side here: decryption is done by the key's plugin (`-j NAME`).
 *
 * The file key is sealed with HPKE base mode, HKDF-SHA256, ChaCha20Poly1305:
 * - `p256tag`: KEM DHKEM(P-256, HKDF-SHA256) (0x0010), info `age-encryption.org/p256tag`;
 * - `mlkem768p256tag`: KEM MLKEM768-P256 (0x0050, draft-ietf-hpke-pq: shared secret
 *   SHA3-256(ss_ML-KEM ‖ ss_P-256 ‖ ct_P-256 ‖ pk_P-256 ‖ "MLKEM768-P256")), info
 *   `age-encryption.org/mlkem768p256tag`, with the label `postquantum`.
 *
 * The stanza is `-> TYPE <tag> <enc>` with a 32-byte body. The 4-byte tag lets a hardware
 * key pick out its stanza without a decryption attempt: the first 4 bytes of
 * HKDF-Extract(salt = info, ikm = enc ‖ SHA-256(recipient P-256 point)[:4]), where the
 * point is the compressed one for `p256tag` and the uncompressed P-256 part of the hybrid
 * key for `mlkem768p256tag`.
 *
 * P-256 and the hashes come from node:crypto; ML-KEM from @noble/post-quantum, loaded
 * lazily as for the hybrid recipient.
 */
import { createECDH, createHash, createHmac, ECDH } from "node:crypto"
import type { LabeledRecipient, Stanza } from "./recipient.js"
import { RecipientParseError } from "./errors.js"
import { encodeBase64 } from "./base64.js"
import { decodeBech32, encodeBech32 } from "./bech32.js"
import { checkMlKem768EncapsulationKey, loadMlKem768 } from "./hybrid.js"
import { dhKemSharedSecret, sealHpkeBase } from "./hpke.js"
import { concatBytes, encodeUtf8, wipeBytes } from "../internal/bytes.js"
import { systemEntropy, type Entropy } from "../internal/entropy.js"

/** The stanza type of an `age1tag1…` recipient. */
export const P256_TAG_STANZA_TYPE = "p256tag"
/** The stanza type of an `age1tagpq1…` recipient. */
export const MLKEM768_P256_TAG_STANZA_TYPE = "mlkem768p256tag"

const CLASSIC_HRP = "age1tag"
const HYBRID_HRP = "age1tagpq"
const CLASSIC_INFO = "age-encryption.org/p256tag"
const HYBRID_INFO = "age-encryption.org/mlkem768p256tag"
const DHKEM_P256 = 0x0010
const MLKEM768_P256 = 0x0050
const HYBRID_LABEL = encodeUtf8("MLKEM768-P256")

const COMPRESSED_POINT_LENGTH = 33
const UNCOMPRESSED_POINT_LENGTH = 65
const MLKEM_PUBLIC_KEY_LENGTH = 1184
const HYBRID_PUBLIC_KEY_LENGTH = MLKEM_PUBLIC_KEY_LENGTH + UNCOMPRESSED_POINT_LENGTH // 1249

/** A tagged recipient, `age1tag1…` (P-256) or `age1tagpq1…` (hybrid, label `postquantum`). */
export class TaggedRecipient implements LabeledRecipient {
  readonly labels: readonly string[]
  readonly #hybrid: boolean
  /** The recipient's bytes as encoded: compressed point, or ML-KEM key ‖ uncompressed point. */
  readonly #publicKey: Uint8Array
  /** The recipient's P-256 point, uncompressed (what ECDH and the KEM context use). */
  readonly #point: Uint8Array
  readonly #entropy: Entropy

  /**
   * @param hybrid whether the key is the hybrid ML-KEM-768 + P-256 one
   * @param publicKey 33 bytes (a compressed P-256 point) or 1249 bytes (ML-KEM-768
   *   encapsulation key ‖ uncompressed P-256 point)
   * @param entropy randomness for the ephemeral keys (the system CSPRNG by default)
   * @throws RecipientParseError on a wrong length, a point not on the curve or an invalid
   *   ML-KEM key
   */
  constructor(hybrid: boolean, publicKey: Uint8Array, entropy: Entropy = systemEntropy) {
    const what = hybrid ? "age1tagpq1" : "age1tag1"
    const want = hybrid ? HYBRID_PUBLIC_KEY_LENGTH : COMPRESSED_POINT_LENGTH
    if (publicKey.length !== want) {
      throw new RecipientParseError(
        `${what}… recipient key must be ${String(want)} bytes, got ${String(publicKey.length)}`,
      )
    }
    const pointBytes = hybrid ? publicKey.subarray(MLKEM_PUBLIC_KEY_LENGTH) : publicKey
    if (hybrid) {
      if (pointBytes[0] !== 0x04) {
        throw new RecipientParseError(`${what}… recipient has no uncompressed P-256 point`)
      }
      checkMlKem768EncapsulationKey(publicKey.subarray(0, MLKEM_PUBLIC_KEY_LENGTH))
    }
    this.#point = uncompressedPoint(pointBytes, what)
    this.#hybrid = hybrid
    this.#publicKey = publicKey.slice()
    this.#entropy = entropy
    this.labels = hybrid ? ["postquantum"] : []
  }

  /** @returns whether this is the hybrid (`age1tagpq1…`) kind */
  get hybrid(): boolean {
    return this.#hybrid
  }

  /** @returns the Bech32 string `age1tag1…` or `age1tagpq1…` */
  encode(): string {
    return encodeBech32(this.#hybrid ? HYBRID_HRP : CLASSIC_HRP, this.#publicKey)
  }

  /** @returns the same as `encode()` (a recipient is public) */
  toString(): string {
    return this.encode()
  }

  /**
   * Seals the file key to the recipient with HPKE.
   * @param fileKey the 16-byte file key
   * @returns one `p256tag` or `mlkem768p256tag` stanza
   */
  async wrapFileKey(fileKey: Uint8Array): Promise<readonly Stanza[]> {
    const ephemeral = ephemeralP256(this.#entropy)
    const dh = new Uint8Array(ephemeral.computeSecret(this.#point))
    const ephemeralPoint = new Uint8Array(ephemeral.getPublicKey(null, "uncompressed"))
    let enc: Uint8Array
    let sharedSecret: Uint8Array
    if (this.#hybrid) {
      const mlKem = await loadMlKem768()
      const randomness = this.#entropy(32)
      const { cipherText, sharedSecret: mlKemShared } = mlKem.encapsulate(
        this.#publicKey.subarray(0, MLKEM_PUBLIC_KEY_LENGTH),
        randomness,
      )
      wipeBytes(randomness)
      sharedSecret = new Uint8Array(
        createHash("sha3-256")
          .update(mlKemShared)
          .update(dh)
          .update(ephemeralPoint)
          .update(this.#point)
          .update(HYBRID_LABEL)
          .digest(),
      )
      wipeBytes(mlKemShared)
      enc = concatBytes(cipherText, ephemeralPoint)
    } else {
      enc = ephemeralPoint
      sharedSecret = dhKemSharedSecret(DHKEM_P256, dh, concatBytes(enc, this.#point))
    }
    wipeBytes(dh)
    const info = this.#hybrid ? HYBRID_INFO : CLASSIC_INFO
    const body = sealHpkeBase(
      this.#hybrid ? MLKEM768_P256 : DHKEM_P256,
      sharedSecret,
      encodeUtf8(info),
      fileKey,
    )
    wipeBytes(sharedSecret)
    const type = this.#hybrid ? MLKEM768_P256_TAG_STANZA_TYPE : P256_TAG_STANZA_TYPE
    return [{ type, args: [encodeBase64(this.tag(enc)), encodeBase64(enc)], body }]
  }

  /**
   * The 4-byte tag of a stanza's encapsulation for this recipient.
   * @param enc the stanza's `enc` argument, decoded
   * @returns the tag
   */
  tag(enc: Uint8Array): Uint8Array {
    const tagged = this.#hybrid ? this.#point : this.#publicKey
    const recipientHash = createHash("sha256").update(tagged).digest().subarray(0, 4)
    const info = this.#hybrid ? HYBRID_INFO : CLASSIC_INFO
    // HKDF-Extract(salt, ikm) is HMAC(salt, ikm)
    const prk = createHmac("sha256", info).update(enc).update(recipientHash).digest()
    return new Uint8Array(prk.subarray(0, 4))
  }
}

/**
 * Parses a tagged recipient string.
 * @param text `age1tag1…` or `age1tagpq1…` (lower case)
 * @param entropy randomness used when wrapping (the system CSPRNG by default)
 * @returns the recipient
 * @throws RecipientParseError if the string is not a valid tagged recipient
 */
export function parseTaggedRecipient(
  text: string,
  entropy: Entropy = systemEntropy,
): TaggedRecipient {
  let decoded: { hrp: string; data: Uint8Array }
  try {
    decoded = decodeBech32(text)
  } catch (cause) {
    throw new RecipientParseError(`invalid tagged recipient "${abbreviate(text)}"`, {
      cause,
      hints: [
        "a tagged recipient is the age1tag1… or age1tagpq1… string a hardware key's plugin prints",
      ],
    })
  }
  if (decoded.hrp !== CLASSIC_HRP && decoded.hrp !== HYBRID_HRP) {
    throw new RecipientParseError(`invalid tagged recipient "${abbreviate(text)}"`, {
      hints: ["a tagged recipient starts with age1tag1 or age1tagpq1, in lower case"],
    })
  }
  return new TaggedRecipient(decoded.hrp === HYBRID_HRP, decoded.data, entropy)
}

/** An ephemeral P-256 key from `entropy` (a scalar outside [1, n-1] is drawn again). */
function ephemeralP256(entropy: Entropy): ECDH {
  const ecdh = createECDH("prime256v1")
  for (;;) {
    const secret = entropy(32)
    try {
      ecdh.setPrivateKey(secret)
      return ecdh
    } catch {
      // zero or not below the group order: draw again (probability about 2^-32)
    } finally {
      wipeBytes(secret)
    }
  }
}

/**
 * Validates a P-256 point (compressed or uncompressed) and returns it uncompressed.
 * @throws RecipientParseError when it is not a point of the curve
 */
function uncompressedPoint(point: Uint8Array, what: string): Uint8Array {
  try {
    return new Uint8Array(
      ECDH.convertKey(point, "prime256v1", undefined, undefined, "uncompressed") as Buffer,
    )
  } catch (cause) {
    throw new RecipientParseError(`${what}… recipient is not a valid P-256 point`, {
      cause,
      hints: ["the recipient string is corrupted"],
    })
  }
}

/** Shortens a (public) recipient string for an error message. */
function abbreviate(text: string): string {
  return text.length > 40 ? `${text.slice(0, 20)}…${text.slice(-8)}` : text
}
