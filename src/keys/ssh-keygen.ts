/**
 * Generates OpenSSH ed25519 key pairs in the files `ssh-keygen -t ed25519 -N ''` writes
 * (the `openssh-key-v1` private key format, unencrypted, and the one-line public key), so
 * the demo and tests can make host keys on machines without openssh-client.
 *
 * Format: PROTOCOL.key in OpenSSH (magic `openssh-key-v1\0`, cipher/KDF `none`, one key,
 * a private section holding two equal check integers, the key, a comment and 1,2,3…
 * padding to the cipher block size, 8 for `none`).
 */
import { generateKeyPairSync } from "node:crypto"
import type { Entropy } from "../internal/entropy.js"
import { systemEntropy } from "../internal/entropy.js"
import { concatBytes, encodeUtf8 } from "../internal/bytes.js"

/** An OpenSSH ed25519 key pair as file contents. */
export interface SshKeyPairFiles {
  /** The private key file (`-----BEGIN OPENSSH PRIVATE KEY-----`), mode 0600 material. */
  readonly privateKey: string
  /** The public key line, `ssh-ed25519 AAAA… comment\n`. */
  readonly publicKey: string
}

function sshString(bytes: Uint8Array): Uint8Array {
  const out = new Uint8Array(4 + bytes.length)
  new DataView(out.buffer).setUint32(0, bytes.length)
  out.set(bytes, 4)
  return out
}

function uint32(n: number): Uint8Array {
  const out = new Uint8Array(4)
  new DataView(out.buffer).setUint32(0, n)
  return out
}

function wrapLines(text: string, width: number): string {
  const lines: string[] = []
  for (let i = 0; i < text.length; i += width) lines.push(text.slice(i, i + width))
  return lines.join("\n")
}

/**
 * Encodes an ed25519 key (32-byte seed and 32-byte public key) as OpenSSH files.
 * @param seed the 32-byte private seed
 * @param publicKey the 32-byte public key
 * @param comment the key comment (for example `root@host`)
 * @param checkInt the 32-bit check integer (random in real files)
 */
export function encodeSshEd25519KeyPair(
  seed: Uint8Array,
  publicKey: Uint8Array,
  comment: string,
  checkInt: number,
): SshKeyPairFiles {
  const keyType = encodeUtf8("ssh-ed25519")
  const wirePublicKey = concatBytes(sshString(keyType), sshString(publicKey))
  const section = [
    uint32(checkInt),
    uint32(checkInt),
    sshString(keyType),
    sshString(publicKey),
    sshString(concatBytes(seed, publicKey)),
    sshString(encodeUtf8(comment)),
  ]
  let privateSection = concatBytes(...section)
  const padding: number[] = []
  for (let i = 1; (privateSection.length + padding.length) % 8 !== 0; i++) padding.push(i)
  privateSection = concatBytes(privateSection, Uint8Array.from(padding))
  const blob = concatBytes(
    encodeUtf8("openssh-key-v1\0"),
    sshString(encodeUtf8("none")),
    sshString(encodeUtf8("none")),
    sshString(new Uint8Array(0)),
    uint32(1),
    sshString(wirePublicKey),
    sshString(privateSection),
  )
  const privateKey =
    "-----BEGIN OPENSSH PRIVATE KEY-----\n" +
    wrapLines(Buffer.from(blob).toString("base64"), 70) +
    "\n-----END OPENSSH PRIVATE KEY-----\n"
  const publicLine = `ssh-ed25519 ${Buffer.from(wirePublicKey).toString("base64")}${
    comment === "" ? "" : ` ${comment}`
  }\n`
  privateSection.fill(0)
  return { privateKey, publicKey: publicLine }
}

/**
 * Generates a fresh OpenSSH ed25519 key pair, like `ssh-keygen -t ed25519 -N '' -C comment`.
 * @returns the private key file and public key line
 */
export function generateSshEd25519KeyPair(
  comment: string,
  entropy: Entropy = systemEntropy,
): SshKeyPairFiles {
  const { privateKey } = generateKeyPairSync("ed25519")
  const jwk = privateKey.export({ format: "jwk" })
  if (jwk.d === undefined || jwk.x === undefined) throw new Error("ed25519 key export failed")
  const seed = new Uint8Array(Buffer.from(jwk.d, "base64url"))
  const publicKey = new Uint8Array(Buffer.from(jwk.x, "base64url"))
  const check = new DataView(entropy(4).buffer).getUint32(0)
  const files = encodeSshEd25519KeyPair(seed, publicKey, comment, check)
  seed.fill(0)
  return files
}
