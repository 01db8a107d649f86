/**
 * SSH Ed25519 keys converted to native age X25519 keys, as Mic92/ssh-to-age does (and as
 * sops-nix uses for host keys; docs/host/sops-nix-manifest.md "SSH host keys"): the public
 * key through the Ed25519 → X25519 birational map, the private key as the first 32 bytes of
 * SHA-512(seed), written without clamping (X25519 clamps when it uses the key, and
 * ssh-to-age's output is the unclamped bytes). The result is a plain `age1…` /
 * `AGE-SECRET-KEY-1…` pair: files for it carry X25519 stanzas, not `ssh-ed25519` ones
 * (docs/formats/age.md "ssh-ed25519" is a different scheme).
 */
import { encodeBech32 } from "../age/bech32.js"
import { RecipientParseError, IdentityParseError } from "../age/errors.js"
import { ed25519PublicKeyToX25519, ed25519SeedToX25519 } from "../age/ssh-ed25519.js"
import type { SshPublicKey } from "../age/ssh-public-key.js"
import { UnsupportedSshKeyTypeError, parseSshPublicKey } from "../age/ssh-public-key.js"
import type { SshPassphrasePrompt } from "../age/ssh-private-key.js"
import { parseSshPrivateKey } from "../age/ssh-private-key.js"
import { wipeBytes } from "../internal/bytes.js"

const notEd25519Hints = [
  "ssh-to-age converts only ssh-ed25519 keys; age can still encrypt to ssh-rsa keys directly (ssh-rsa stanzas)",
]

/**
 * Converts an SSH Ed25519 public key line to the age X25519 recipient of the same secret.
 * @param line `ssh-ed25519 AAAA… [comment]`
 * @returns the `age1…` recipient
 * @throws RecipientParseError when the line is not a valid ssh-ed25519 public key
 */
export function sshPublicKeyToAge(line: string): string {
  const key = parseSshPublicKey(line)
  if (key.type !== "ssh-ed25519") {
    throw new RecipientParseError(
      `cannot convert a ${key.type} key to age: only ssh-ed25519 keys can be converted`,
      {
        hints: notEd25519Hints,
      },
    )
  }
  const montgomery = ed25519PublicKeyToX25519(key.publicKey)
  if (montgomery === null)
    throw new RecipientParseError("invalid ssh-ed25519 public key: not a point on the curve")
  return encodeBech32("age", montgomery)
}

/** The outcome of converting one public key line: a recipient, or a key of another type to skip. */
export type SshPublicKeyConversion =
  | { readonly kind: "converted"; readonly recipient: string }
  | { readonly kind: "skipped"; readonly keyType: string; readonly reason: string }

/**
 * Converts one public key line the way the ssh-to-age command does for each input line: a
 * valid key of another type (ssh-rsa, ECDSA, …) is skipped, not an error.
 * @param line a `.pub`, `authorized_keys` or `ssh-keyscan` line
 * @param where names the line in messages (for example `"hosts.txt" line 3`)
 * @returns the `age1…` recipient, or why the key was skipped
 * @throws RecipientParseError when the line is not a valid SSH public key
 */
export function sshPublicKeyLineToAge(
  line: string,
  where = "SSH public key",
): SshPublicKeyConversion {
  let key: SshPublicKey
  try {
    key = parseSshPublicKey(line)
  } catch (cause) {
    if (cause instanceof UnsupportedSshKeyTypeError) {
      return {
        kind: "skipped",
        keyType: cause.keyType,
        reason: `${where}: ${cause.keyType} keys cannot be converted to age`,
      }
    }
    if (cause instanceof RecipientParseError)
      throw new RecipientParseError(`${where}: ${cause.message}`, { cause, hints: cause.hints })
    throw cause
  }
  if (key.type !== "ssh-ed25519") {
    return {
      kind: "skipped",
      keyType: key.type,
      reason: `${where}: ${key.type} keys cannot be converted to age`,
    }
  }
  return { kind: "converted", recipient: sshPublicKeyToAge(line) }
}

/** How to read the private key for `sshPrivateKeyToAge`. */
export interface SshPrivateKeyToAgeOptions {
  /** The file path, for messages and the prompt (default "SSH key"). */
  readonly name?: string
  /** Asks for the passphrase if the key is encrypted. */
  readonly askPassphrase?: SshPassphrasePrompt
}

/**
 * Converts an SSH Ed25519 private key file to the age X25519 identity of the same secret.
 * @param text the key file (OpenSSH or PKCS#8 PEM)
 * @param options a passphrase prompt, or `{ name, askPassphrase }`
 * @returns the `AGE-SECRET-KEY-1…` identity (upper case)
 * @throws IdentityParseError when the file is invalid or not an Ed25519 key
 * @throws PassphraseError when the passphrase is wrong or cannot be asked for
 */
export async function sshPrivateKeyToAge(
  text: string,
  options: SshPassphrasePrompt | SshPrivateKeyToAgeOptions = {},
): Promise<string> {
  const { name = "SSH key", askPassphrase } =
    typeof options === "function" ? { askPassphrase: options } : options
  const key = await parseSshPrivateKey(
    text,
    askPassphrase === undefined ? { name } : { name, passphrase: askPassphrase },
  )
  if (key.type !== "ssh-ed25519") {
    throw new IdentityParseError(
      `SSH key ${JSON.stringify(name)} is ${key.type}: only ssh-ed25519 keys can be converted to age`,
      { hints: notEd25519Hints },
    )
  }
  const secret = ed25519SeedToX25519(key.seed)
  wipeBytes(key.seed)
  // ssh-to-age writes SHA-512(seed)[:32] as is (unclamped); X25519 clamps it when used.
  const identity = encodeBech32("AGE-SECRET-KEY-", secret)
  wipeBytes(secret)
  return identity
}
