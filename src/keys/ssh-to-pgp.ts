/**
 * RSA SSH keys as OpenPGP keys, as sops-nix turns `sshKeyPaths` host keys into a temporary
 * GnuPG keyring (docs/host/sops-nix-manifest.md "The install, step by step"
 * (step 5), "SSH host keys"; the user-side tool
 * is Mic92/ssh-to-pgp). The result is an RFC 4880 transferable secret key of three packets:
 *
 * 1. a version 4 secret-key packet: creation time 0 (so the fingerprint depends only on the
 *    RSA key and is reproducible), RSA (algorithm 1), unencrypted secret material
 *    (s2k usage 0) with its two-octet checksum;
 * 2. a user ID packet, `root <root@localhost>` by default;
 * 3. a positive certification (0x13) of that user ID by the key itself, SHA-256, with the
 *    hashed subpackets creation time (0), issuer key ID, key flags 0x0F (certify, sign,
 *    encrypt communications, encrypt storage) and primary user ID, and no unhashed ones.
 *
 * There is no subkey: the primary key encrypts, as upstream's entity does. RSA PKCS#1 v1.5
 * signatures are deterministic, so the bytes equal ssh-to-pgp's export of the same key.
 * Pure: no files, clock or randomness.
 */
import type { KeyObject } from "node:crypto"
import { createHash, sign } from "node:crypto"
import { ToolError } from "../internal/errors.js"

/** The key is not an RSA private key, so it has no OpenPGP form here. */
export class SshToPgpError extends ToolError {}

/** An OpenPGP key made from an RSA SSH key. */
export interface PgpKeyFromSsh {
  /** The v4 fingerprint: 40 uppercase hex digits. */
  readonly fingerprint: string
  /** The transferable secret key, binary (what `gpg --import` reads). Secret. */
  readonly secretKey: Uint8Array
}

/** What upstream sops-nix and ssh-to-pgp call the key's owner. */
export const DEFAULT_PGP_USER_ID = "root <root@localhost>"

// RFC 4880 §4.3 packet tags, §9.1 public-key algorithm, §9.4 hash algorithm, §5.2.1 type
const TAG_SECRET_KEY = 5
const TAG_USER_ID = 13
const TAG_SIGNATURE = 2
const ALGORITHM_RSA = 1
const HASH_SHA256 = 8
const SIGNATURE_POSITIVE_CERTIFICATION = 0x13
// RFC 4880 §5.2.3.1 subpacket types
const SUBPACKET_CREATION_TIME = 2
const SUBPACKET_ISSUER = 16
const SUBPACKET_PRIMARY_USER_ID = 25
const SUBPACKET_KEY_FLAGS = 27
// RFC 4880 §5.2.3.21: certify 0x01, sign 0x02, encrypt communications 0x04, encrypt storage 0x08
const KEY_FLAGS_ALL = 0x0f

/**
 * Turns an RSA private key into an OpenPGP secret key with creation time 0.
 * @param privateKey an RSA private key (from `parseSshPrivateKey`, type `ssh-rsa`)
 * @param options `userId`, default `root <root@localhost>`
 * @returns the binary transferable secret key and its fingerprint
 * @throws SshToPgpError when the key is not an RSA private key
 */
export function sshRsaKeyToPgp(
  privateKey: KeyObject,
  options: { readonly userId?: string } = {},
): PgpKeyFromSsh {
  if (privateKey.type !== "private" || privateKey.asymmetricKeyType !== "rsa") {
    throw new SshToPgpError(
      `only RSA keys can be turned into PGP keys, not ${privateKey.type} ${privateKey.asymmetricKeyType ?? "unknown"} keys`,
      { hints: ["use an ssh-rsa host key, or age with an ssh-ed25519 key (ageSshKeyPaths)"] },
    )
  }
  const jwk = privateKey.export({ format: "jwk" })
  const decoded: Uint8Array[] = []
  const part = (name: "n" | "e" | "d" | "p" | "q" | "qi"): Uint8Array => {
    const value = jwk[name]
    if (value === undefined) throw new SshToPgpError(`the RSA key has no "${name}" component`)
    const bytes = Buffer.from(value, "base64url")
    decoded.push(bytes)
    return bytes
  }
  const publicBody = concat([
    Uint8Array.of(4), // spec: version 4 key packet
    uint32(0), // spec: creation time 0, so the fingerprint is reproducible
    Uint8Array.of(ALGORITHM_RSA),
    mpi(part("n")),
    mpi(part("e")),
  ])
  // spec (RFC 4880 §5.5.3): d, p, q, u with u = p⁻¹ mod q. JWK's qi is q⁻¹ mod p, so OpenPGP's
  // p is JWK's q and the other way round (the order Go's openpgp writes, hence the same bytes).
  const secretMaterial = concat([mpi(part("d")), mpi(part("q")), mpi(part("p")), mpi(part("qi"))])
  const secretBody = concat([
    publicBody,
    Uint8Array.of(0), // s2k usage 0: the secret material is not encrypted (a private RAM keyring)
    secretMaterial,
    uint16(checksum(secretMaterial)),
  ])
  // security: wipe the copies of the secret components (the JWK strings cannot be wiped)
  secretMaterial.fill(0)
  for (const bytes of decoded) bytes.fill(0)

  const fingerprintBytes = createHash("sha1")
    .update(Uint8Array.of(0x99))
    .update(uint16(publicBody.length))
    .update(publicBody)
    .digest()
  const keyId = fingerprintBytes.subarray(12)

  const userId = Buffer.from(options.userId ?? DEFAULT_PGP_USER_ID, "utf8")
  const hashed = concat([
    subpacket(SUBPACKET_CREATION_TIME, uint32(0)),
    subpacket(SUBPACKET_ISSUER, keyId),
    subpacket(SUBPACKET_KEY_FLAGS, Uint8Array.of(KEY_FLAGS_ALL)),
    subpacket(SUBPACKET_PRIMARY_USER_ID, Uint8Array.of(1)),
  ])
  const signedPart = concat([
    Uint8Array.of(4, SIGNATURE_POSITIVE_CERTIFICATION, ALGORITHM_RSA, HASH_SHA256),
    uint16(hashed.length),
    hashed,
  ])
  // spec (RFC 4880 §5.2.4): key, then 0xB4 + 4-octet length + user ID, then the hashed part
  // and the v4 trailer 0x04 0xFF + 4-octet length of the hashed part
  const toSign = concat([
    Uint8Array.of(0x99),
    uint16(publicBody.length),
    publicBody,
    Uint8Array.of(0xb4),
    uint32(userId.length),
    userId,
    signedPart,
    Uint8Array.of(4, 0xff),
    uint32(signedPart.length),
  ])
  const digest = createHash("sha256").update(toSign).digest()
  const signature = sign("sha256", toSign, privateKey) // PKCS#1 v1.5, deterministic
  const signatureBody = concat([
    signedPart,
    uint16(0), // no unhashed subpackets
    digest.subarray(0, 2),
    // Go's openpgp (so ssh-to-pgp's export) writes this MPI's bit count as 8 × the modulus
    // length; the RFC count written here differs from it only when the top bit is clear
    mpi(signature),
  ])

  return {
    fingerprint: Buffer.from(fingerprintBytes).toString("hex").toUpperCase(),
    secretKey: concat([
      packet(TAG_SECRET_KEY, secretBody),
      packet(TAG_USER_ID, userId),
      packet(TAG_SIGNATURE, signatureBody),
    ]),
  }
}

/** RFC 4880 §4.2.2: a new-format packet header and its body. */
function packet(tag: number, body: Uint8Array): Uint8Array {
  const n = body.length
  let length: Uint8Array
  if (n < 192) length = Uint8Array.of(n)
  else if (n < 8384) length = Uint8Array.of(((n - 192) >> 8) + 192, (n - 192) & 0xff)
  else length = concat([Uint8Array.of(0xff), uint32(n)])
  return concat([Uint8Array.of(0xc0 | tag), length, body])
}

/** RFC 4880 §5.2.3.1: a signature subpacket (all of ours are shorter than 192 octets). */
function subpacket(type: number, data: Uint8Array): Uint8Array {
  return concat([Uint8Array.of(data.length + 1, type), data])
}

/** RFC 4880 §3.2: a multiprecision integer (bit count, then the bytes without leading zeros). */
function mpi(bytes: Uint8Array): Uint8Array {
  let start = 0
  while (start < bytes.length && bytes[start] === 0) start++
  const value = bytes.subarray(start)
  const first = value[0] ?? 0
  const bits = value.length === 0 ? 0 : (value.length - 1) * 8 + (32 - Math.clz32(first))
  return concat([uint16(bits), value])
}

/** RFC 4880 §5.5.3: the sum of the secret material's octets modulo 65536. */
function checksum(bytes: Uint8Array): number {
  let sum = 0
  for (const b of bytes) sum = (sum + b) & 0xffff
  return sum
}

function uint16(n: number): Uint8Array {
  return Uint8Array.of((n >>> 8) & 0xff, n & 0xff)
}

function uint32(n: number): Uint8Array {
  return Uint8Array.of((n >>> 24) & 0xff, (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff)
}

function concat(parts: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0))
  let offset = 0
  for (const p of parts) {
    out.set(p, offset)
    offset += p.length
  }
  return out
}
