/**
 * The `ssh-rsa` recipient type (docs/formats/age.md "SSH recipients", "ssh-rsa"): the file
 * key is encrypted with RSAES-OAEP (SHA-256 for the hash and MGF1, label
 * "age-encryption.org/v1/ssh-rsa") to an SSH RSA key of at least 2048 bits. The stanza is
 * tagged with the first 4 bytes of SHA-256 of the SSH wire key.
 *
 * Stanza: `-> ssh-rsa <tag>` and the OAEP ciphertext (as long as the modulus).
 */
import { constants, createPublicKey, privateDecrypt, publicEncrypt } from "node:crypto"
import type { KeyObject } from "node:crypto"
import type { Identity, Recipient, Stanza } from "./recipient.js"
import { unwrapFirstStanza } from "./recipient.js"
import { HeaderError, IdentityParseError, RecipientParseError } from "./errors.js"
import { sshKeyTag } from "./ssh-ed25519.js"
import { bigintToBytes, bytesToBigint, encodeSshMpint, encodeSshString } from "./ssh-wire.js"
import { asUint8Array, concatBytes, encodeUtf8 } from "../internal/bytes.js"

const stanzaType = "ssh-rsa"
const oaepLabel = encodeUtf8("age-encryption.org/v1/ssh-rsa")

/** The smallest RSA modulus age accepts, in bits (Go and rage refuse smaller keys). */
export const minimumRsaBits: number = 2048
/** The largest RSA modulus we accept, in bits (OpenSSH's own limit). */
export const maximumRsaBits: number = 16384

/** An RSA public key as its two numbers. */
export interface RsaPublicNumbers {
  readonly modulus: bigint
  readonly exponent: bigint
}

/** @returns the SSH wire form of an RSA public key: string "ssh-rsa", mpint e, mpint n */
export function encodeSshRsaPublicKey(key: RsaPublicNumbers): Uint8Array {
  return concatBytes(
    encodeSshString(encodeUtf8(stanzaType)),
    encodeSshMpint(key.exponent),
    encodeSshMpint(key.modulus),
  )
}

function base64Url(value: bigint): string {
  return Buffer.from(bigintToBytes(value)).toString("base64url")
}

/** @returns the modulus and exponent of an RSA `KeyObject` (public or private) */
export function rsaPublicNumbers(key: KeyObject): RsaPublicNumbers {
  const jwk = createPublicKey(key).export({ format: "jwk" })
  if (jwk.n === undefined || jwk.e === undefined) {
    throw new IdentityParseError("not an RSA key")
  }
  return {
    modulus: bytesToBigint(asUint8Array(Buffer.from(jwk.n, "base64url"))),
    exponent: bytesToBigint(asUint8Array(Buffer.from(jwk.e, "base64url"))),
  }
}

function bitLength(n: bigint): number {
  return n.toString(2).length
}

/** Encrypts file keys to an SSH RSA public key (`ssh-rsa AAAA…`). */
export class SshRsaRecipient implements Recipient {
  /** The SSH wire form of the key (what the `.pub` line's base64 holds). */
  readonly wirePublicKey: Uint8Array
  /** The stanza tag, base64 of SHA-256(wire key)[:4]. */
  readonly tag: string
  /** The modulus size in bits. */
  readonly bits: number
  readonly #publicKey: KeyObject

  /**
   * @param key the modulus and public exponent
   * @throws RecipientParseError when the key is smaller than 2048 bits or otherwise unusable
   */
  constructor(key: RsaPublicNumbers) {
    this.bits = bitLength(key.modulus)
    if (this.bits < minimumRsaBits) {
      throw new RecipientParseError(
        `ssh-rsa key is ${this.bits} bits: keys smaller than ${minimumRsaBits} bits are not supported`,
        { hints: ["generate a stronger key with ssh-keygen -t ed25519 (or -t rsa -b 4096)"] },
      )
    }
    if (this.bits > maximumRsaBits) {
      throw new RecipientParseError(
        `ssh-rsa key is ${this.bits} bits: keys larger than ${maximumRsaBits} bits are not supported`,
      )
    }
    if (key.exponent < 3n || (key.exponent & 1n) === 0n) {
      throw new RecipientParseError("ssh-rsa key has an invalid public exponent")
    }
    this.wirePublicKey = encodeSshRsaPublicKey(key)
    this.tag = sshKeyTag(this.wirePublicKey)
    this.#publicKey = createPublicKey({
      key: { kty: "RSA", n: base64Url(key.modulus), e: base64Url(key.exponent) },
      format: "jwk",
    })
  }

  /**
   * @param fileKey the 16-byte file key
   * @returns one `ssh-rsa` stanza
   */
  wrapFileKey(fileKey: Uint8Array): Promise<readonly Stanza[]> {
    const body = publicEncrypt(
      {
        key: this.#publicKey,
        padding: constants.RSA_PKCS1_OAEP_PADDING,
        oaepHash: "sha256",
        oaepLabel,
      },
      fileKey,
    )
    return Promise.resolve([{ type: stanzaType, args: [this.tag], body: asUint8Array(body) }])
  }
}

/** Decrypts `ssh-rsa` stanzas with an SSH RSA private key. */
export class SshRsaIdentity implements Identity {
  /** The stanza tag this identity answers to. */
  readonly tag: string
  readonly #privateKey: KeyObject
  readonly #numbers: RsaPublicNumbers

  /**
   * @param privateKey an RSA private key (from `createPrivateKey`)
   * @throws IdentityParseError when the key is not RSA or smaller than 2048 bits
   */
  constructor(privateKey: KeyObject) {
    if (privateKey.type !== "private" || privateKey.asymmetricKeyType !== "rsa") {
      throw new IdentityParseError("ssh-rsa identity needs an RSA private key")
    }
    this.#numbers = rsaPublicNumbers(privateKey)
    const bits = bitLength(this.#numbers.modulus)
    if (bits < minimumRsaBits) {
      throw new IdentityParseError(
        `ssh-rsa key is ${bits} bits: keys smaller than ${minimumRsaBits} bits are not supported`,
      )
    }
    this.#privateKey = privateKey
    this.tag = sshKeyTag(encodeSshRsaPublicKey(this.#numbers))
  }

  /** @returns the recipient that encrypts to this identity */
  recipient(): SshRsaRecipient {
    return new SshRsaRecipient(this.#numbers)
  }

  /**
   * @returns the file key from the first `ssh-rsa` stanza with our tag, or null
   * @throws HeaderError when such a stanza is malformed or does not decrypt
   */
  unwrapFileKey(stanzas: readonly Stanza[]): Promise<Uint8Array | null> {
    return unwrapFirstStanza(stanzas, (stanza) => this.#unwrapStanza(stanza))
  }

  #unwrapStanza(stanza: Stanza): Uint8Array | null {
    if (stanza.type !== stanzaType) return null
    if (stanza.args.length !== 1) {
      throw new HeaderError(
        `invalid ssh-rsa stanza: expected 1 argument, got ${stanza.args.length}`,
      )
    }
    if (stanza.args[0] !== this.tag) return null
    let fileKey: Uint8Array
    try {
      fileKey = asUint8Array(
        privateDecrypt(
          {
            key: this.#privateKey,
            padding: constants.RSA_PKCS1_OAEP_PADDING,
            oaepHash: "sha256",
            oaepLabel,
          },
          stanza.body,
        ),
      )
    } catch (cause) {
      // spec (docs/formats/age.md "ssh-rsa", as Go and rage): an OAEP failure on a stanza
      // with our tag is a hard error.
      throw new HeaderError("failed to decrypt the file key of an ssh-rsa stanza with our tag", {
        cause,
        hints: ["the file may be corrupted, or made for another key with the same tag"],
      })
    }
    if (fileKey.length !== 16) {
      throw new HeaderError(
        `invalid ssh-rsa stanza: the file key is ${fileKey.length} bytes, not 16`,
      )
    }
    return fileKey
  }
}
