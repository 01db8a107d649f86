/**
 * The public age library API (`coffer/age`): the age v1 format (docs/formats/age.md
 * "Overview", "Header", "Payload", "Native recipients", "SSH recipients", "Armor"),
 * every recipient type, key files, and the buffer and Web Streams encryption API.
 *
 * ```ts
 * import { encrypt, decrypt, generateX25519Identity } from "coffer/age"
 * const identity = generateX25519Identity()
 * const file = await encrypt(plaintext, [identity.toRecipient()], { armor: true })
 * const back = await decrypt(file, [identity])
 * ```
 */
export * from "./recipient.js"
export * from "./errors.js"
export { encrypt, encryptStream, checkRecipientLabels, prepareEncryption } from "./encrypt.js"
export type { EncryptOptions, PreparedEncryption } from "./encrypt.js"
export { decrypt, decryptStream, inspectHeader, unwrapHeader } from "./decrypt.js"
export type { DecryptStreamOptions, HeaderInfo, IdentitySource } from "./decrypt.js"
export {
  X25519Identity,
  X25519Recipient,
  generateX25519Identity,
  parseX25519Identity,
  parseX25519Recipient,
} from "./x25519.js"
export {
  DEFAULT_MAX_SCRYPT_WORK_FACTOR,
  DEFAULT_SCRYPT_WORK_FACTOR,
  ScryptIdentity,
  ScryptRecipient,
} from "./scrypt.js"
export {
  ARMOR_BEGIN,
  ARMOR_END,
  ArmorDecoder,
  ArmorEncoder,
  decodeArmor,
  detectArmor,
  encodeArmor,
} from "./armor.js"
export { computeHeaderMac, encodeHeader, parseHeader, verifyHeaderMac } from "./header.js"
export type { ParsedHeader } from "./header.js"
export { encodeStanza, parseStanza } from "./stanza.js"
export type { ParsedStanza } from "./stanza.js"
export {
  CHUNK_SIZE,
  ENCRYPTED_CHUNK_SIZE,
  PAYLOAD_NONCE_SIZE,
  PayloadDecryptor,
  PayloadEncryptor,
  derivePayloadKey,
  encryptedPayloadSize,
  openChunk,
  sealChunk,
} from "./payload.js"
export { decodeBase64Strict, encodeBase64 } from "./base64.js"
export { decodeBech32, encodeBech32 } from "./bech32.js"
export * from "./hybrid.js"
export * from "./ssh-ed25519.js"
export * from "./ssh-rsa.js"
export * from "./plugin.js"
export * from "./keyfile.js"
