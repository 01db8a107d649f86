/**
 * SSH private key files as age identities (docs/formats/age.md "SSH key files"): the
 * OpenSSH container (`-----BEGIN OPENSSH PRIVATE KEY-----`, PROTOCOL.key in OpenSSH: plain,
 * or encrypted with bcrypt_pbkdf and aes{128,192,256}-{ctr,cbc}, aes256-gcm@openssh.com or
 * chacha20-poly1305@openssh.com), and PEM keys read by OpenSSL (PKCS#1 `RSA PRIVATE KEY`,
 * PKCS#8 `PRIVATE KEY`, and their encrypted forms).
 *
 * Passphrases are asked for lazily, as Go age does: an encrypted key becomes an identity
 * that knows its public key (the OpenSSH container keeps it in the clear; an encrypted PEM
 * key needs its `.pub` line) and prompts only when a stanza carries that key's tag.
 */
import { createCipheriv, createDecipheriv, createPrivateKey, timingSafeEqual } from "node:crypto"
import type { KeyObject } from "node:crypto"
import { base64 } from "@scure/base"
import { IdentityParseError, PassphraseError, RecipientParseError } from "./errors.js"
import type { Identity, Recipient, Stanza } from "./recipient.js"
import { SshEd25519Identity, encodeSshEd25519PublicKey, sshKeyTag } from "./ssh-ed25519.js"
import type { SshEd25519PublicKey, SshPublicKey, SshRsaPublicKey } from "./ssh-public-key.js"
import {
  UnsupportedSshKeyTypeError,
  decodeSshWirePublicKey,
  parseSshPublicKey,
  sshRecipientFromPublicKey,
  unsupportedSshKeyHints,
} from "./ssh-public-key.js"
import type { RsaPublicNumbers } from "./ssh-rsa.js"
import { SshRsaIdentity, encodeSshRsaPublicKey, rsaPublicNumbers } from "./ssh-rsa.js"
import type { SshWireReader } from "./ssh-wire.js"
import { bigintToBytes, createSshWireReader } from "./ssh-wire.js"
import { asUint8Array, concatBytes, decodeUtf8, encodeUtf8, wipeBytes } from "../internal/bytes.js"

/** Asks the user for a passphrase; `prompt` names the key file. */
export type SshPassphrasePrompt = (prompt: string) => Promise<string>

/** How to read an SSH private key file. */
export interface SshIdentityOptions {
  /** The file path, for messages and prompts. */
  readonly name: string
  /** Called (at most once per successful decryption) when the key is encrypted. */
  readonly passphrase?: SshPassphrasePrompt
  /**
   * The `.pub` line next to the key: needed for encrypted PEM keys, checked against the key
   * otherwise.
   */
  readonly publicKey?: string
}

/** A decrypted SSH private key of a type age supports. */
export type SshPrivateKey =
  | {
      readonly type: "ssh-ed25519"
      /** The 32-byte Ed25519 seed (secret). */
      readonly seed: Uint8Array
      readonly publicKey: SshEd25519PublicKey
    }
  | {
      readonly type: "ssh-rsa"
      readonly privateKey: KeyObject
      readonly publicKey: SshRsaPublicKey
    }

/** An age identity made from an SSH private key; it can always name its public key. */
export interface SshIdentity extends Identity {
  /** The SSH public key (available without the passphrase). */
  readonly publicKey: SshPublicKey
  /** @returns the recipient that encrypts to this identity */
  recipient(): Recipient
}

/** Go age's limit for an SSH key file given with `-i`. */
export const maximumSshKeyFileSize: number = 16 * 1024

const opensshMagic = encodeUtf8("openssh-key-v1\0")

interface CipherSpec {
  readonly keyLength: number
  readonly ivLength: number
  readonly blockSize: number
  readonly tagLength: number
  decrypt(key: Uint8Array, iv: Uint8Array, data: Uint8Array, tag: Uint8Array): Uint8Array | null
}

function plainCipher(
  nodeName: string,
  keyLength: number,
  ivLength: number,
  blockSize: number,
): CipherSpec {
  return {
    keyLength,
    ivLength,
    blockSize,
    tagLength: 0,
    decrypt: (key, iv, data) => {
      const decipher = createDecipheriv(nodeName, key, iv)
      decipher.setAutoPadding(false)
      return concatBytes(asUint8Array(decipher.update(data)), asUint8Array(decipher.final()))
    },
  }
}

const ciphers: Readonly<Record<string, CipherSpec | undefined>> = {
  "aes128-ctr": plainCipher("aes-128-ctr", 16, 16, 16),
  "aes192-ctr": plainCipher("aes-192-ctr", 24, 16, 16),
  "aes256-ctr": plainCipher("aes-256-ctr", 32, 16, 16),
  "aes128-cbc": plainCipher("aes-128-cbc", 16, 16, 16),
  "aes192-cbc": plainCipher("aes-192-cbc", 24, 16, 16),
  "aes256-cbc": plainCipher("aes-256-cbc", 32, 16, 16),
  "aes256-gcm@openssh.com": {
    keyLength: 32,
    ivLength: 12,
    blockSize: 16,
    tagLength: 16,
    decrypt: (key, iv, data, tag) => {
      const decipher = createDecipheriv("aes-256-gcm", key, iv, { authTagLength: 16 })
      decipher.setAuthTag(tag)
      const plaintext = asUint8Array(decipher.update(data))
      try {
        decipher.final()
      } catch {
        wipeBytes(plaintext)
        return null
      }
      return plaintext
    },
  },
  "chacha20-poly1305@openssh.com": {
    keyLength: 64,
    ivLength: 0,
    blockSize: 8,
    tagLength: 16,
    decrypt: decryptOpensshChaCha20Poly1305,
  },
}

// OpenSSH's chacha20-poly1305 (PROTOCOL.chacha20poly1305) with sequence number 0 and no
// length field, as used for key files: the first 32 key bytes are the main key; the
// Poly1305 key is keystream block 0, the data is encrypted from block 1, and the tag is
// Poly1305 over the ciphertext alone.
function decryptOpensshChaCha20Poly1305(
  key: Uint8Array,
  _iv: Uint8Array,
  data: Uint8Array,
  tag: Uint8Array,
): Uint8Array | null {
  const mainKey = key.subarray(0, 32)
  // OpenSSL's chacha20 IV is a 32-bit little-endian block counter then a 96-bit nonce; with
  // a zero nonce that equals OpenSSH's 64-bit counter and 64-bit sequence number.
  const counter = (n: number): Uint8Array =>
    Uint8Array.of(n, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
  const polyKey = asUint8Array(
    createCipheriv("chacha20", mainKey, counter(0)).update(new Uint8Array(32)),
  )
  const expected = poly1305(polyKey, data)
  wipeBytes(polyKey)
  if (!timingSafeEqual(expected, tag)) return null
  return asUint8Array(createDecipheriv("chacha20", mainKey, counter(1)).update(data))
}

function littleEndian(bytes: Uint8Array): bigint {
  let n = 0n
  for (let i = bytes.length - 1; i >= 0; i--) n = (n << 8n) | BigInt(bytes[i] ?? 0)
  return n
}

// Poly1305 (RFC 8439 §2.5); Node 20 has no raw Poly1305, and this only runs on key files.
function poly1305(key: Uint8Array, message: Uint8Array): Uint8Array {
  const p = (1n << 130n) - 5n
  const r = littleEndian(key.subarray(0, 16)) & 0x0ffffffc0ffffffc0ffffffc0fffffffn
  const s = littleEndian(key.subarray(16, 32))
  let accumulator = 0n
  for (let i = 0; i < message.length; i += 16) {
    const block = message.subarray(i, i + 16)
    const n = littleEndian(block) + (1n << BigInt(8 * block.length))
    accumulator = ((accumulator + n) * r) % p
  }
  let tag = (accumulator + s) & ((1n << 128n) - 1n)
  const out = new Uint8Array(16)
  for (let i = 0; i < 16; i++) {
    out[i] = Number(tag & 0xffn)
    tag >>= 8n
  }
  return out
}

interface PemBlock {
  readonly label: string
  readonly headers: string
  readonly body: string
}

function findPemBlock(text: string): PemBlock | null {
  const match = /-----BEGIN ([A-Z0-9 ]+)-----\r?\n([\s\S]*?)-----END \1-----/.exec(text)
  if (match === null) return null
  const label = match[1] ?? ""
  const content = match[2] ?? ""
  const split = content.search(/\r?\n\r?\n/)
  const hasHeaders = /^[A-Za-z-]+:/.test(content)
  return {
    label,
    headers: hasHeaders && split >= 0 ? content.slice(0, split) : "",
    body: hasHeaders && split >= 0 ? content.slice(split) : content,
  }
}

function keyError(name: string, problem: string, cause?: unknown): IdentityParseError {
  return new IdentityParseError(
    `SSH key ${JSON.stringify(name)}: ${problem}`,
    cause === undefined ? {} : { cause },
  )
}

function unsupportedKeyError(name: string, keyType: string): IdentityParseError {
  return new IdentityParseError(
    `SSH key ${JSON.stringify(name)}: unsupported key type ${JSON.stringify(keyType)}: age can only decrypt with ssh-ed25519 and ssh-rsa keys`,
    { hints: unsupportedSshKeyHints(keyType) },
  )
}

async function askPassphrase(options: SshIdentityOptions): Promise<Uint8Array> {
  if (options.passphrase === undefined) {
    throw new PassphraseError(
      `SSH key ${JSON.stringify(options.name)} is encrypted and no passphrase can be asked for`,
      {
        hints: ["run the command in a terminal, or remove the passphrase with ssh-keygen -p"],
      },
    )
  }
  const passphrase = await options.passphrase(
    `Enter passphrase for ${JSON.stringify(options.name)}:`,
  )
  return encodeUtf8(passphrase)
}

function wrongPassphrase(name: string, cause?: unknown): PassphraseError {
  return new PassphraseError(`wrong passphrase for SSH key ${JSON.stringify(name)}`, {
    hints: ["check the passphrase with ssh-keygen -y -f KEYFILE"],
    ...(cause === undefined ? {} : { cause }),
  })
}

/** The parts of an OpenSSH container, before the private section is decrypted. */
interface OpensshContainer {
  readonly cipherName: string
  readonly kdfName: string
  readonly kdfOptions: Uint8Array
  readonly publicKey: SshPublicKey
  readonly privateSection: Uint8Array
  readonly tag: Uint8Array
}

function parseOpensshContainer(body: string, name: string): OpensshContainer {
  let blob: Uint8Array
  try {
    blob = base64.decode(body.replace(/\s+/g, ""))
  } catch (cause) {
    throw keyError(name, "invalid base64 in the OpenSSH private key", cause)
  }
  if (
    blob.length < opensshMagic.length ||
    Buffer.compare(blob.subarray(0, opensshMagic.length), opensshMagic) !== 0
  ) {
    throw keyError(name, "not an openssh-key-v1 private key")
  }
  try {
    const reader = createSshWireReader(blob.subarray(opensshMagic.length))
    const cipherName = decodeUtf8(reader.readString())
    const kdfName = decodeUtf8(reader.readString())
    const kdfOptions = reader.readString()
    const count = reader.readUint32()
    if (count !== 1)
      throw keyError(name, `the file holds ${count} keys; age reads files with exactly one`)
    const publicWire = reader.readString()
    const publicType = decodeUtf8(createSshWireReader(publicWire).readString())
    let publicKey: SshPublicKey
    try {
      publicKey = decodeSshWirePublicKey(publicWire)
    } catch (cause) {
      if (cause instanceof UnsupportedSshKeyTypeError) throw unsupportedKeyError(name, publicType)
      throw keyError(name, "invalid public key in the OpenSSH private key", cause)
    }
    const privateSection = reader.readString()
    const tag = reader.readBytes(reader.remaining())
    return { cipherName, kdfName, kdfOptions, publicKey, privateSection, tag }
  } catch (cause) {
    if (cause instanceof IdentityParseError) throw cause
    throw keyError(name, "the OpenSSH private key is truncated or corrupted", cause)
  }
}

function isEncryptedContainer(container: OpensshContainer): boolean {
  return container.cipherName !== "none"
}

async function decryptPrivateSection(
  container: OpensshContainer,
  options: SshIdentityOptions,
): Promise<Uint8Array> {
  const { name } = options
  const cipher = ciphers[container.cipherName]
  if (cipher === undefined) {
    throw keyError(name, `unsupported cipher ${JSON.stringify(container.cipherName)}`)
  }
  if (container.kdfName !== "bcrypt") {
    throw keyError(name, `unsupported key derivation ${JSON.stringify(container.kdfName)}`)
  }
  if (container.tag.length !== cipher.tagLength)
    throw keyError(name, "the OpenSSH private key is truncated or corrupted")
  if (container.privateSection.length % cipher.blockSize !== 0) {
    throw keyError(name, "the encrypted private section is not a whole number of blocks")
  }
  let salt: Uint8Array
  let rounds: number
  try {
    const kdfReader = createSshWireReader(container.kdfOptions)
    salt = kdfReader.readString()
    rounds = kdfReader.readUint32()
  } catch (cause) {
    throw keyError(name, "invalid bcrypt options in the OpenSSH private key", cause)
  }
  if (salt.length === 0 || rounds < 1)
    throw keyError(name, "invalid bcrypt options in the OpenSSH private key")
  const passphrase = await askPassphrase(options)
  // Loaded on demand: only encrypted OpenSSH keys need it (and the bundle splits it out).
  const { default: bcryptPbkdf } = await import("bcrypt-pbkdf")
  const derived = new Uint8Array(cipher.keyLength + cipher.ivLength)
  const status =
    passphrase.length === 0
      ? -1
      : bcryptPbkdf.pbkdf(
          passphrase,
          passphrase.length,
          salt,
          salt.length,
          derived,
          derived.length,
          rounds,
        )
  wipeBytes(passphrase)
  if (status !== 0) throw wrongPassphrase(name)
  const key = derived.subarray(0, cipher.keyLength)
  const iv = derived.subarray(cipher.keyLength)
  const plaintext = cipher.decrypt(key, iv, container.privateSection, container.tag)
  wipeBytes(derived)
  if (plaintext === null) throw wrongPassphrase(name)
  return plaintext
}

function readPrivateKeyFields(
  reader: SshWireReader,
  publicKey: SshPublicKey,
  name: string,
): SshPrivateKey {
  const type = decodeUtf8(reader.readString())
  if (type !== publicKey.type)
    throw keyError(name, `the private key is "${type}" but the public key is "${publicKey.type}"`)
  if (publicKey.type === "ssh-ed25519") {
    const publicBytes = reader.readString()
    const privateBytes = reader.readString()
    if (
      privateBytes.length !== 64 ||
      Buffer.compare(publicBytes, publicKey.publicKey) !== 0 ||
      Buffer.compare(privateBytes.subarray(32), publicKey.publicKey) !== 0
    ) {
      throw keyError(name, "the private key does not match its public key")
    }
    return { type: "ssh-ed25519", seed: Uint8Array.from(privateBytes.subarray(0, 32)), publicKey }
  }
  const n = reader.readMpint()
  const e = reader.readMpint()
  const d = reader.readMpint()
  const iqmp = reader.readMpint()
  const p = reader.readMpint()
  const q = reader.readMpint()
  if (n !== publicKey.rsa.modulus || e !== publicKey.rsa.exponent || p * q !== n) {
    throw keyError(name, "the private key does not match its public key")
  }
  const url = (value: bigint): string => Buffer.from(bigintToBytes(value)).toString("base64url")
  const privateKey = createPrivateKey({
    key: {
      kty: "RSA",
      n: url(n),
      e: url(e),
      d: url(d),
      p: url(p),
      q: url(q),
      dp: url(d % (p - 1n)),
      dq: url(d % (q - 1n)),
      qi: url(iqmp),
    },
    format: "jwk",
  })
  return { type: "ssh-rsa", privateKey, publicKey }
}

function parsePrivateSection(
  plaintext: Uint8Array,
  container: OpensshContainer,
  name: string,
  encrypted: boolean,
): SshPrivateKey {
  try {
    const reader = createSshWireReader(plaintext)
    const check1 = reader.readUint32()
    const check2 = reader.readUint32()
    // spec (PROTOCOL.key): equal check integers show the decryption used the right key.
    if (check1 !== check2) {
      throw encrypted
        ? wrongPassphrase(name)
        : keyError(name, "the private key's check integers differ (corrupted file)")
    }
    const key = readPrivateKeyFields(reader, container.publicKey, name)
    reader.readString() // comment
    const padding = reader.readBytes(reader.remaining())
    for (let i = 0; i < padding.length; i++) {
      if (padding[i] !== i + 1) throw keyError(name, "invalid padding in the private key")
    }
    return key
  } catch (cause) {
    if (cause instanceof IdentityParseError || cause instanceof PassphraseError) throw cause
    throw keyError(name, "the private key section is truncated or corrupted", cause)
  } finally {
    wipeBytes(plaintext)
  }
}

function privateKeyFromKeyObject(keyObject: KeyObject, name: string): SshPrivateKey {
  switch (keyObject.asymmetricKeyType) {
    case "rsa": {
      const rsa = rsaPublicNumbers(keyObject)
      const publicKey = sshPublicKeyFromRsa(rsa)
      return { type: "ssh-rsa", privateKey: keyObject, publicKey }
    }
    case "ed25519": {
      const jwk = keyObject.export({ format: "jwk" })
      if (jwk.d === undefined || jwk.x === undefined)
        throw keyError(name, "cannot read the ed25519 key")
      const seed = new Uint8Array(Buffer.from(jwk.d, "base64url"))
      const publicBytes = new Uint8Array(Buffer.from(jwk.x, "base64url"))
      const publicKey = sshPublicKeyFromEd25519(publicBytes)
      return { type: "ssh-ed25519", seed, publicKey }
    }
    default: {
      const keyType = keyObject.asymmetricKeyType ?? "unknown"
      const sshName =
        keyType === "ec" ? "ecdsa-sha2-nistp256" : keyType === "dsa" ? "ssh-dss" : keyType
      throw unsupportedKeyError(name, sshName)
    }
  }
}

function sshPublicKeyFromEd25519(publicKey: Uint8Array): SshEd25519PublicKey {
  const wirePublicKey = encodeSshEd25519PublicKey(publicKey)
  return { type: "ssh-ed25519", wirePublicKey, publicKey, comment: "" }
}

function sshPublicKeyFromRsa(rsa: RsaPublicNumbers): SshRsaPublicKey {
  return { type: "ssh-rsa", wirePublicKey: encodeSshRsaPublicKey(rsa), rsa, comment: "" }
}

const unsupportedPemLabels: Readonly<Record<string, string>> = {
  "EC PRIVATE KEY": "ecdsa-sha2-nistp256",
  "DSA PRIVATE KEY": "ssh-dss",
}

function isEncryptedPem(block: PemBlock): boolean {
  return block.label === "ENCRYPTED PRIVATE KEY" || /Proc-Type:\s*4,ENCRYPTED/.test(block.headers)
}

async function decryptPem(text: string, options: SshIdentityOptions): Promise<SshPrivateKey> {
  const passphrase = await askPassphrase(options)
  let keyObject: KeyObject
  try {
    keyObject = createPrivateKey({ key: text, format: "pem", passphrase: Buffer.from(passphrase) })
  } catch (cause) {
    throw wrongPassphrase(options.name, cause)
  } finally {
    wipeBytes(passphrase)
  }
  return privateKeyFromKeyObject(keyObject, options.name)
}

function sameKey(a: SshPublicKey, b: SshPublicKey): boolean {
  return Buffer.compare(a.wirePublicKey, b.wirePublicKey) === 0
}

function identityFromPrivateKey(
  key: SshPrivateKey,
  name: string,
): SshEd25519Identity | SshRsaIdentity {
  try {
    return key.type === "ssh-ed25519"
      ? new SshEd25519Identity(key.seed, key.publicKey.publicKey)
      : new SshRsaIdentity(key.privateKey)
  } catch (cause) {
    if (cause instanceof IdentityParseError) throw keyError(name, cause.message, cause)
    throw cause
  } finally {
    if (key.type === "ssh-ed25519") wipeBytes(key.seed)
  }
}

/** Where an SSH private key file stands before any passphrase is asked for. */
type SshKeyFile =
  | { readonly encrypted: false; readonly key: SshPrivateKey }
  | {
      readonly encrypted: true
      readonly publicKey: SshPublicKey
      readonly decrypt: () => Promise<SshPrivateKey>
    }

function openSshKeyFile(text: string, options: SshIdentityOptions): SshKeyFile {
  const { name } = options
  if (text.length > maximumSshKeyFileSize) {
    throw keyError(name, `the file is larger than ${maximumSshKeyFileSize} bytes`)
  }
  const block = findPemBlock(text)
  if (block === null) {
    throw keyError(
      name,
      "not a PEM or OpenSSH private key (no -----BEGIN … PRIVATE KEY----- block)",
    )
  }
  if (block.label === "OPENSSH PRIVATE KEY") {
    const container = parseOpensshContainer(block.body, name)
    const given = givenPublicKey(options)
    if (given !== undefined && !sameKey(given, container.publicKey)) {
      throw keyError(
        name,
        `the public key ${JSON.stringify(`${name}.pub`)} does not belong to this private key`,
      )
    }
    if (!isEncryptedContainer(container)) {
      if (container.kdfName !== "none" || container.tag.length !== 0)
        throw keyError(name, "invalid unencrypted OpenSSH private key")
      return {
        encrypted: false,
        key: parsePrivateSection(Uint8Array.from(container.privateSection), container, name, false),
      }
    }
    return {
      encrypted: true,
      publicKey: container.publicKey,
      decrypt: async () =>
        parsePrivateSection(await decryptPrivateSection(container, options), container, name, true),
    }
  }
  const unsupported = unsupportedPemLabels[block.label]
  if (unsupported !== undefined) throw unsupportedKeyError(name, unsupported)
  if (!["RSA PRIVATE KEY", "PRIVATE KEY", "ENCRYPTED PRIVATE KEY"].includes(block.label)) {
    throw keyError(name, `unsupported PEM block "${block.label}"`)
  }
  const given = givenPublicKey(options)
  if (isEncryptedPem(block)) {
    if (given === undefined) {
      throw new IdentityParseError(
        `SSH key ${JSON.stringify(name)}: encrypted PEM keys need their public key, and ${JSON.stringify(`${name}.pub`)} was not found`,
        {
          hints: [
            `put the public key next to it as ${name}.pub (ssh-keygen -y -f ${name} > ${name}.pub)`,
            `or convert the key to the OpenSSH format, which keeps the public key readable: ssh-keygen -p -f ${name}`,
          ],
        },
      )
    }
    return {
      encrypted: true,
      publicKey: given,
      decrypt: async () => {
        const key = await decryptPem(text, options)
        if (!sameKey(key.publicKey, given)) {
          throw keyError(
            name,
            `the public key ${JSON.stringify(`${name}.pub`)} does not belong to this private key`,
          )
        }
        return key
      },
    }
  }
  let keyObject: KeyObject
  try {
    keyObject = createPrivateKey({ key: text, format: "pem" })
  } catch (cause) {
    throw keyError(name, "invalid PEM private key", cause)
  }
  const key = privateKeyFromKeyObject(keyObject, name)
  if (given !== undefined && !sameKey(given, key.publicKey)) {
    throw keyError(
      name,
      `the public key ${JSON.stringify(`${name}.pub`)} does not belong to this private key`,
    )
  }
  return { encrypted: false, key }
}

function givenPublicKey(options: SshIdentityOptions): SshPublicKey | undefined {
  if (options.publicKey === undefined) return undefined
  try {
    return parseSshPublicKey(options.publicKey)
  } catch (cause) {
    if (cause instanceof RecipientParseError) {
      throw keyError(
        options.name,
        `invalid public key file ${JSON.stringify(`${options.name}.pub`)}: ${cause.message}`,
        cause,
      )
    }
    throw cause
  }
}

/**
 * Reads and (if needed) decrypts an SSH private key, asking for the passphrase at once.
 * @param text the key file's content
 * @returns the private key and its public key
 * @throws IdentityParseError when the file is invalid or the key type unsupported
 * @throws PassphraseError when the passphrase is wrong or cannot be asked for
 */
export async function parseSshPrivateKey(
  text: string,
  options: SshIdentityOptions,
): Promise<SshPrivateKey> {
  const file = openSshKeyFile(text, options)
  return file.encrypted ? file.decrypt() : file.key
}

/**
 * Reads the public key of an SSH private key file without asking for a passphrase.
 * @returns the public key
 * @throws IdentityParseError when the file is invalid, or is an encrypted PEM key without
 *   `options.publicKey`
 */
export function sshPublicKeyOfPrivateKey(text: string, options: SshIdentityOptions): SshPublicKey {
  const file = openSshKeyFile(text, options)
  return file.encrypted ? file.publicKey : file.key.publicKey
}

/**
 * An SSH identity whose private key is encrypted: it decrypts the key only for a stanza
 * with its tag.
 */
class EncryptedSshIdentity implements SshIdentity {
  readonly publicKey: SshPublicKey
  readonly #tag: string
  readonly #decrypt: () => Promise<SshPrivateKey>
  readonly #name: string
  #identity: Identity | undefined

  constructor(publicKey: SshPublicKey, decrypt: () => Promise<SshPrivateKey>, name: string) {
    this.publicKey = publicKey
    this.#decrypt = decrypt
    this.#name = name
    this.#tag = sshKeyTag(publicKey.wirePublicKey)
  }

  recipient(): Recipient {
    return sshRecipientFromPublicKey(this.publicKey)
  }

  async unwrapFileKey(stanzas: readonly Stanza[]): Promise<Uint8Array | null> {
    // spec (docs/formats/age.md "SSH key files"): prompt only if a stanza of this key's
    // type carries this key's tag.
    const mine = stanzas.some((s) => s.type === this.publicKey.type && s.args[0] === this.#tag)
    if (!mine) return null
    if (this.#identity === undefined) {
      this.#identity = identityFromPrivateKey(await this.#decrypt(), this.#name)
    }
    return this.#identity.unwrapFileKey(stanzas)
  }
}

/** An SSH identity whose private key was stored in the clear. */
class PlainSshIdentity implements SshIdentity {
  readonly publicKey: SshPublicKey
  readonly #identity: Identity

  constructor(publicKey: SshPublicKey, identity: Identity) {
    this.publicKey = publicKey
    this.#identity = identity
  }

  recipient(): Recipient {
    return sshRecipientFromPublicKey(this.publicKey)
  }

  unwrapFileKey(stanzas: readonly Stanza[]): Promise<Uint8Array | null> {
    return this.#identity.unwrapFileKey(stanzas)
  }
}

/**
 * Parses an SSH private key file as an age identity (what `age -i ~/.ssh/id_ed25519` does).
 * An encrypted key asks `options.passphrase` only when a stanza carries its tag.
 * @param text the key file's content (OpenSSH, PKCS#1 or PKCS#8 PEM; at most 16 KiB)
 * @param options.name the file path, for messages and the passphrase prompt
 * @param options.passphrase asks the user for the passphrase of an encrypted key
 * @param options.publicKey the `.pub` line beside the key (needed for encrypted PEM keys)
 * @returns an identity for `ssh-ed25519` or `ssh-rsa` stanzas, which can also give its recipient
 * @throws IdentityParseError when the file is invalid or its key type is unsupported
 *   (ECDSA, DSA, sk-)
 * @throws PassphraseError (from `unwrapFileKey`) on a wrong or unavailable passphrase
 */
export function parseSshIdentity(text: string, options: SshIdentityOptions): Promise<SshIdentity> {
  try {
    const file = openSshKeyFile(text, options)
    if (file.encrypted) {
      return Promise.resolve(new EncryptedSshIdentity(file.publicKey, file.decrypt, options.name))
    }
    const identity = identityFromPrivateKey(file.key, options.name)
    return Promise.resolve(new PlainSshIdentity(file.key.publicKey, identity))
  } catch (error) {
    return Promise.reject(error instanceof Error ? error : new Error(String(error)))
  }
}
