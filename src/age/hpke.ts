/**
 * The parts of HPKE (RFC 9180) that age's HPKE-based recipients use to seal a file key
 * (docs/formats/age.md "Tagged recipients"): base mode, HKDF-SHA256, ChaCha20Poly1305, a
 * single message, sealed and opened; the KEM-specific shared secret is computed by the
 * caller (X-Wing in hybrid.ts, the tag KEMs in tag.ts). Also DHKEM's
 * ExtractAndExpand (RFC 9180 §4.1) for DHKEM(P-256, HKDF-SHA256).
 *
 * Everything comes from node:crypto (HMAC-SHA256, ChaCha20-Poly1305).
 */
import { createCipheriv, createDecipheriv, createHmac } from "node:crypto"
import { concatBytes, encodeUtf8, wipeBytes } from "../internal/bytes.js"

const HPKE_VERSION = encodeUtf8("HPKE-v1")
const KDF_HKDF_SHA256 = 0x0001
const AEAD_CHACHA20_POLY1305 = 0x0003
const TAG_LENGTH = 16

function uint16(n: number): Uint8Array {
  return Uint8Array.of(n >> 8, n & 0xff)
}

function labeledExtract(
  suiteId: Uint8Array,
  salt: Uint8Array,
  label: string,
  ikm: Uint8Array,
): Uint8Array {
  return new Uint8Array(
    createHmac("sha256", salt)
      .update(HPKE_VERSION)
      .update(suiteId)
      .update(label)
      .update(ikm)
      .digest(),
  )
}

/** HKDF-Expand for at most one block (L ≤ 32), which is all that is needed here. */
function labeledExpand(
  suiteId: Uint8Array,
  prk: Uint8Array,
  label: string,
  info: Uint8Array,
  length: number,
): Uint8Array {
  const block = createHmac("sha256", prk)
    .update(uint16(length))
    .update(HPKE_VERSION)
    .update(suiteId)
    .update(label)
    .update(info)
    .update(Uint8Array.of(1))
    .digest()
  return new Uint8Array(block.subarray(0, length))
}

/**
 * DHKEM's ExtractAndExpand with HKDF-SHA256 (RFC 9180 §4.1).
 * @param kemId the KEM identifier (0x0010 for DHKEM(P-256, HKDF-SHA256))
 * @param dh the Diffie-Hellman output
 * @param kemContext enc ‖ the recipient's serialized public key
 * @returns the 32-byte shared secret
 */
export function dhKemSharedSecret(
  kemId: number,
  dh: Uint8Array,
  kemContext: Uint8Array,
): Uint8Array {
  const suiteId = concatBytes(encodeUtf8("KEM"), uint16(kemId))
  const prk = labeledExtract(suiteId, new Uint8Array(0), "eae_prk", dh)
  const secret = labeledExpand(suiteId, prk, "shared_secret", kemContext, 32)
  wipeBytes(prk)
  return secret
}

/**
 * Seals one message in HPKE base mode with HKDF-SHA256 and ChaCha20Poly1305 (the first
 * message of the context: sequence number 0, no associated data).
 * @param kemId the KEM identifier, part of the suite id
 * @param sharedSecret the KEM's shared secret
 * @param info the application's info string
 * @param plaintext what to seal (a file key)
 * @returns ciphertext ‖ 16-byte tag
 */
export function sealHpkeBase(
  kemId: number,
  sharedSecret: Uint8Array,
  info: Uint8Array,
  plaintext: Uint8Array,
): Uint8Array {
  const { key, nonce } = baseKeySchedule(kemId, sharedSecret, info)
  const cipher = createCipheriv("chacha20-poly1305", key, nonce, { authTagLength: TAG_LENGTH })
  const sealed = concatBytes(cipher.update(plaintext), cipher.final(), cipher.getAuthTag())
  wipeBytes(key)
  return sealed
}

/**
 * Opens what `sealHpkeBase` sealed with the same suite, shared secret and info.
 * @returns the plaintext, or null when the tag does not verify (not for this key)
 */
export function openHpkeBase(
  kemId: number,
  sharedSecret: Uint8Array,
  info: Uint8Array,
  sealed: Uint8Array,
): Uint8Array | null {
  if (sealed.length < TAG_LENGTH) return null
  const { key, nonce } = baseKeySchedule(kemId, sharedSecret, info)
  const decipher = createDecipheriv("chacha20-poly1305", key, nonce, {
    authTagLength: TAG_LENGTH,
  })
  wipeBytes(key)
  decipher.setAuthTag(sealed.subarray(sealed.length - TAG_LENGTH))
  const plaintext = decipher.update(sealed.subarray(0, sealed.length - TAG_LENGTH))
  try {
    decipher.final()
  } catch {
    plaintext.fill(0)
    return null
  }
  return new Uint8Array(plaintext)
}

/** The RFC 9180 key schedule in base mode (no PSK) for HKDF-SHA256 and ChaCha20Poly1305. */
function baseKeySchedule(
  kemId: number,
  sharedSecret: Uint8Array,
  info: Uint8Array,
): { key: Uint8Array; nonce: Uint8Array } {
  const suiteId = concatBytes(
    encodeUtf8("HPKE"),
    uint16(kemId),
    uint16(KDF_HKDF_SHA256),
    uint16(AEAD_CHACHA20_POLY1305),
  )
  const empty = new Uint8Array(0)
  const context = concatBytes(
    Uint8Array.of(0x00), // mode_base
    labeledExtract(suiteId, empty, "psk_id_hash", empty),
    labeledExtract(suiteId, empty, "info_hash", info),
  )
  const secret = labeledExtract(suiteId, sharedSecret, "secret", empty)
  const key = labeledExpand(suiteId, secret, "key", context, 32)
  const nonce = labeledExpand(suiteId, secret, "base_nonce", context, 12)
  wipeBytes(secret)
  return { key, nonce }
}
