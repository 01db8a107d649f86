/**
 * SSH public keys as age recipients (docs/formats/age.md "SSH recipients", "Identity and
 * recipient files"): an `authorized_keys` / `.pub` line (`ssh-ed25519 AAAA… comment`,
 * `ssh-rsa AAAA… comment`) becomes an `SshEd25519Recipient` or `SshRsaRecipient`. Other SSH
 * key types are valid keys that age cannot encrypt to; they get their own error class so a
 * recipients file can skip them with a warning, as Go age does for `authorized_keys` and
 * `github.com/USER.keys` files.
 */
import { base64 } from "@scure/base"
import { RecipientParseError } from "./errors.js"
import type { Recipient } from "./recipient.js"
import { SshEd25519Recipient, encodeSshEd25519PublicKey } from "./ssh-ed25519.js"
import type { RsaPublicNumbers } from "./ssh-rsa.js"
import { SshRsaRecipient, encodeSshRsaPublicKey } from "./ssh-rsa.js"
import { createSshWireReader } from "./ssh-wire.js"
import { decodeUtf8 } from "../internal/bytes.js"
import type { Entropy } from "../internal/entropy.js"

/** A parsed SSH public key of a type age supports. */
export type SshPublicKey =
  | {
      readonly type: "ssh-ed25519"
      /** The SSH wire form (the base64 field of the `.pub` line, decoded). */
      readonly wirePublicKey: Uint8Array
      /** The 32-byte Ed25519 public key. */
      readonly publicKey: Uint8Array
      readonly comment: string
    }
  | {
      readonly type: "ssh-rsa"
      readonly wirePublicKey: Uint8Array
      readonly rsa: RsaPublicNumbers
      readonly comment: string
    }

/** An SSH Ed25519 public key. */
export type SshEd25519PublicKey = Extract<SshPublicKey, { type: "ssh-ed25519" }>
/** An SSH RSA public key. */
export type SshRsaPublicKey = Extract<SshPublicKey, { type: "ssh-rsa" }>

/**
 * A well-formed SSH public key of a type age cannot encrypt to (ECDSA, DSA, FIDO `sk-`,
 * certificates).
 */
export class UnsupportedSshKeyTypeError extends RecipientParseError {
  /** The SSH key type, for example `ecdsa-sha2-nistp256`. */
  readonly keyType: string
  /**
   * @param keyType the SSH key type name
   * @param opts.cause the inner error
   */
  constructor(keyType: string, opts: { cause?: unknown } = {}) {
    super(
      `unsupported SSH key type ${JSON.stringify(keyType)}: age can only encrypt to ssh-ed25519 and ssh-rsa keys`,
      {
        ...opts,
        hints: unsupportedSshKeyHints(keyType),
      },
    )
    this.keyType = keyType
  }
}

/**
 * @returns what to do instead of using a key of type `keyType` with age
 */
export function unsupportedSshKeyHints(keyType: string): readonly string[] {
  if (keyType.startsWith("sk-")) {
    return [
      "FIDO security key (sk-) SSH keys can only sign, so they can never decrypt",
      "use an ssh-ed25519 key, or a hardware key through an age plugin (age-plugin-fido2-hmac, age-plugin-yubikey)",
    ]
  }
  if (keyType.includes("-cert-")) return ["use the plain public key, not the certificate"]
  if (keyType.startsWith("ecdsa-"))
    return ["ECDSA keys are not supported by age; use an ssh-ed25519 key (ssh-keygen -t ed25519)"]
  if (keyType === "ssh-dss")
    return ["DSA keys are not supported by age; use an ssh-ed25519 key (ssh-keygen -t ed25519)"]
  return ["use an ssh-ed25519 key (ssh-keygen -t ed25519) or an age1… recipient"]
}

const keyTypePattern =
  /^(ssh-[a-z0-9-]+|ecdsa-sha2-[a-z0-9-]+|sk-[a-z0-9-]+@openssh\.com|[a-z0-9-]+-cert-v01@openssh\.com)$/

/** @returns whether `word` looks like an SSH public key type name */
export function isSshKeyTypeName(word: string): boolean {
  return keyTypePattern.test(word)
}

/**
 * Decodes the SSH wire form of a public key.
 * @param wirePublicKey the wire bytes
 * @param comment the comment to keep with it
 * @returns the parsed key
 * @throws UnsupportedSshKeyTypeError for key types age cannot use
 * @throws RecipientParseError when the encoding is invalid
 */
export function decodeSshWirePublicKey(wirePublicKey: Uint8Array, comment = ""): SshPublicKey {
  let type: string
  try {
    const reader = createSshWireReader(wirePublicKey)
    type = decodeUtf8(reader.readString())
    if (type === "ssh-ed25519") {
      const publicKey = reader.readString()
      if (publicKey.length !== 32 || reader.remaining() !== 0)
        throw new RangeError("bad ed25519 key")
      // Canonical re-encoding guards against trailing or odd data hidden in the key.
      return {
        type,
        wirePublicKey: encodeSshEd25519PublicKey(publicKey),
        publicKey: Uint8Array.from(publicKey),
        comment,
      }
    }
    if (type === "ssh-rsa") {
      const exponent = reader.readMpint()
      const modulus = reader.readMpint()
      if (reader.remaining() !== 0) throw new RangeError("trailing data")
      const rsa = { modulus, exponent }
      const canonical = encodeSshRsaPublicKey(rsa)
      if (Buffer.compare(canonical, wirePublicKey) !== 0) throw new RangeError("non-minimal mpint")
      return { type, wirePublicKey: canonical, rsa, comment }
    }
  } catch (cause) {
    if (cause instanceof RecipientParseError) throw cause
    throw new RecipientParseError("invalid SSH public key encoding", { cause })
  }
  throw new UnsupportedSshKeyTypeError(type)
}

/**
 * Parses an OpenSSH public key line (`TYPE BASE64 [comment]`, as in `.pub` and
 * `authorized_keys` files; leading `authorized_keys` options are skipped).
 * @param line the key line
 * @returns the parsed key
 * @throws UnsupportedSshKeyTypeError for ECDSA, DSA, FIDO `sk-` keys and certificates
 * @throws RecipientParseError when the line is not a valid SSH public key
 */
export function parseSshPublicKey(line: string): SshPublicKey {
  const words = line.trim().split(/[ \t]+/)
  // authorized_keys lines may start with options and ssh-keyscan lines with a host name:
  // the key is the first known type name followed by base64 data.
  let index = -1
  let wire: Uint8Array | undefined
  let firstError: unknown
  for (let i = 0; i + 1 < words.length && wire === undefined; i++) {
    if (!isSshKeyTypeName(words[i] ?? "")) continue
    try {
      wire = base64.decode(words[i + 1] ?? "")
      index = i
    } catch (cause) {
      firstError ??= cause
    }
  }
  const type = words[index]
  if (wire === undefined || type === undefined) {
    throw new RecipientParseError('invalid SSH public key: expected "TYPE BASE64 [comment]"', {
      ...(firstError === undefined ? {} : { cause: firstError }),
      hints: [
        'copy the whole line from the .pub file, for example "ssh-ed25519 AAAAC3Nza… user@host"',
      ],
    })
  }
  const key = decodeSshWirePublicKey(wire, words.slice(index + 2).join(" "))
  if (key.type !== type) {
    throw new RecipientParseError(
      `invalid SSH public key: the line says "${type}" but the key data is "${key.type}"`,
    )
  }
  return key
}

/**
 * Renders a key as an OpenSSH public key line (without a final newline).
 * @returns `TYPE BASE64` and the comment, if any
 */
export function formatSshPublicKey(key: SshPublicKey): string {
  const text = `${key.type} ${base64.encode(key.wirePublicKey)}`
  return key.comment === "" ? text : `${text} ${key.comment}`
}

/**
 * Builds the age recipient of a parsed SSH public key.
 * @param opts.entropy where ephemeral keys come from (ssh-ed25519; defaults to the CSPRNG)
 */
export function sshRecipientFromPublicKey(
  key: SshPublicKey,
  opts: { entropy?: Entropy } = {},
): SshEd25519Recipient | SshRsaRecipient {
  switch (key.type) {
    case "ssh-ed25519":
      return new SshEd25519Recipient(key.publicKey, opts)
    case "ssh-rsa":
      return new SshRsaRecipient(key.rsa)
    default: {
      const unreachable: never = key
      return unreachable
    }
  }
}

/**
 * Parses an SSH public key line as an age recipient (what `age -r "ssh-ed25519 …"` takes).
 * @param line `ssh-ed25519 AAAA… [comment]` or `ssh-rsa AAAA… [comment]`
 * @returns an `SshEd25519Recipient` or `SshRsaRecipient`
 * @throws UnsupportedSshKeyTypeError (a RecipientParseError) for SSH key types age cannot use
 * @throws RecipientParseError when the line is invalid or the RSA key is under 2048 bits
 */
export function parseSshRecipient(line: string, opts: { entropy?: Entropy } = {}): Recipient {
  return sshRecipientFromPublicKey(parseSshPublicKey(line), opts)
}
