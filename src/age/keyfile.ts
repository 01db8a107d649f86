/**
 * Recipient and identity strings and files, dispatched over every key type
 * (docs/formats/age.md "Identity and recipient files", "SSH key files", "Plugins" naming):
 * `age1…` X25519, `age1pq1…` hybrid, `age1tag1…`/`age1tagpq1…` tagged, `age1NAME1…` plugin, `ssh-ed25519`/`ssh-rsa` public
 * keys; `AGE-SECRET-KEY-1…`, `AGE-SECRET-KEY-PQ-1…`, `AGE-PLUGIN-NAME-1…` identities;
 * identity files that are age-encrypted with a passphrase (asked for lazily, only when a
 * file needs them) or a single SSH private key.
 *
 * Key types that are rarely used or heavy to load (post-quantum, plugins, SSH private keys)
 * are imported on demand, so a plain X25519 decryption starts fast. Messages name the file
 * and line but never quote an identity line: it is a secret.
 */
import { IdentityParseError, RecipientParseError } from "./errors.js"
import type { Identity, Recipient, Stanza } from "./recipient.js"

/** Options shared by the file parsers. */
export interface KeyFileOptions {
  /** The file's name for messages (`"key.txt"`, `standard input`). */
  readonly name?: string | undefined
  /**
   * Asks for a passphrase (of an encrypted identity file or SSH key); absent when there is
   * no one to ask, and then such files fail when they are needed.
   * @param prompt the whole prompt, e.g. `Enter passphrase for identity file "key.age":`
   */
  readonly askPassphrase?: ((what: string) => Promise<string>) | undefined
  /** The `.pub` line beside an SSH private key file, needed for encrypted PEM keys. */
  readonly sshPublicKey?: string | undefined
  /** Called for a recipients-file line that is skipped (an unsupported SSH key type). */
  readonly warn?: ((message: string) => void) | undefined
}

/**
 * Identity and recipient files larger than this are refused (docs/formats/age.md "Identity
 * and recipient files").
 */
export const KEY_FILE_SIZE_LIMIT: number = 16 * 1024 * 1024
/**
 * Recipients-file lines longer than this are refused (docs/formats/age.md "Identity and
 * recipient files").
 */
const RECIPIENT_LINE_LIMIT = 8 * 1024

const ARMOR_BEGIN = "-----BEGIN AGE ENCRYPTED FILE-----"
const AGE_FILE_START = "age-encryption.org/"

/**
 * Parses one recipient string as given to `-r`.
 * @returns the recipient
 * @throws RecipientParseError naming what is wrong, with a hint
 */
export async function parseRecipient(text: string): Promise<Recipient> {
  if (text.startsWith("age1pq1")) {
    const { parseHybridRecipient } = await import("./hybrid.js")
    return parseHybridRecipient(text)
  }
  if (text.startsWith("age1tag1") || text.startsWith("age1tagpq1")) {
    const { parseTaggedRecipient } = await import("./tag.js")
    return parseTaggedRecipient(text)
  }
  if (text.startsWith("age1") && text.lastIndexOf("1") > 3) {
    const { PluginRecipient } = await import("./plugin.js")
    return PluginRecipient.fromString(text)
  }
  if (text.startsWith("age1")) {
    const { parseX25519Recipient } = await import("./x25519.js")
    return parseX25519Recipient(text)
  }
  if (text.startsWith("ssh-")) {
    const { parseSshRecipient } = await import("./ssh-public-key.js")
    return parseSshRecipient(text)
  }
  if (text.startsWith("github:")) {
    const user = text.slice("github:".length)
    throw new RecipientParseError(`"github:" recipients are not supported`, {
      hints: [
        `download the user's keys and use them as a recipients file: curl -O https://github.com/${user}.keys; then -R ${user}.keys`,
      ],
    })
  }
  if (/^AGE-(SECRET-KEY|PLUGIN)-/i.test(text)) {
    // Don't quote it: it is a secret key.
    throw new RecipientParseError(
      "an identity (secret key) was given where a recipient was expected",
      {
        hints: ["pass the public key (age1…): age-keygen -y prints it for an identity file"],
      },
    )
  }
  if (/^(ecdsa-sha2-|sk-ssh-|sk-ecdsa-)/.test(text)) {
    const { parseSshRecipient } = await import("./ssh-public-key.js")
    return parseSshRecipient(text) // throws UnsupportedSshKeyTypeError with its hints
  }
  throw new RecipientParseError(`unknown recipient type ${JSON.stringify(abbreviate(text))}`, {
    hints: [
      "a recipient is an age public key (age1…), a post-quantum key (age1pq1…), a plugin recipient (age1NAME1…) or an SSH public key line (ssh-ed25519 AAAA…, ssh-rsa AAAA…)",
    ],
  })
}

/**
 * Parses a recipients file (`-R`): one recipient per line, `#` comments and empty lines
 * ignored, CRLF accepted. Valid SSH key lines of types age can't use (ECDSA, DSA, FIDO) are
 * skipped with a warning, so `authorized_keys` and GitHub `.keys` files work.
 * @param data the file's bytes or text
 * @returns the recipients, at least one
 * @throws RecipientParseError naming the file and line
 */
export async function parseRecipientsFile(
  data: string | Uint8Array,
  opts: KeyFileOptions = {},
): Promise<Recipient[]> {
  const name = describeName(opts.name)
  const text = decodeText(data, name, RecipientParseError)
  const recipients: Recipient[] = []
  let skipped = 0
  const lines = splitLines(text)
  for (const [index, line] of lines.entries()) {
    const where = `recipients file ${name} line ${index + 1}`
    if (line === "" || line.startsWith("#")) continue
    if (line.length > RECIPIENT_LINE_LIMIT) {
      throw new RecipientParseError(`${where}: line is longer than ${RECIPIENT_LINE_LIMIT} bytes`)
    }
    if (/^AGE-(SECRET-KEY|PLUGIN)-/i.test(line)) {
      throw new RecipientParseError(`${where}: apparent identity found in recipients file`, {
        hints: ["recipients files hold public keys (age1…); use -i for identity files"],
      })
    }
    try {
      recipients.push(await parseRecipient(line))
    } catch (cause) {
      const { UnsupportedSshKeyTypeError } = await import("./ssh-public-key.js")
      if (cause instanceof UnsupportedSshKeyTypeError) {
        // spec (docs/formats/age.md "SSH key files"): skipped with a warning, so
        // authorized_keys and GitHub .keys files work
        skipped += 1
        opts.warn?.(`${where}: skipping unsupported SSH key type ${JSON.stringify(cause.keyType)}`)
        continue
      }
      const reason = cause instanceof Error ? cause.message : String(cause)
      throw new RecipientParseError(`${where}: ${reason}`, {
        cause,
        hints: cause instanceof RecipientParseError ? cause.hints : [],
      })
    }
  }
  if (recipients.length === 0) {
    throw new RecipientParseError(`no recipients found in recipients file ${name}`, {
      hints:
        skipped > 0
          ? [
              `${skipped} SSH key(s) of unsupported types were skipped; age needs ssh-ed25519 or ssh-rsa keys`,
            ]
          : ["a recipients file lists one age1… or SSH public key per line"],
    })
  }
  return recipients
}

/**
 * Parses one identity string (`AGE-SECRET-KEY-1…`, `AGE-SECRET-KEY-PQ-1…`,
 * `AGE-PLUGIN-NAME-1…`).
 * @returns the identity
 * @throws IdentityParseError (which never quotes the secret)
 */
export async function parseIdentity(text: string): Promise<Identity> {
  if (text.startsWith("AGE-SECRET-KEY-PQ-1")) {
    const { parseHybridIdentity } = await import("./hybrid.js")
    return parseHybridIdentity(text)
  }
  if (text.startsWith("AGE-SECRET-KEY-1")) {
    const { parseX25519Identity } = await import("./x25519.js")
    return parseX25519Identity(text)
  }
  if (text.startsWith("AGE-PLUGIN-")) {
    const { PluginIdentity } = await import("./plugin.js")
    return PluginIdentity.fromString(text)
  }
  if (/^age1/i.test(text) || text.startsWith("ssh-")) {
    throw new IdentityParseError(
      "apparent recipient (public key) found where an identity was expected",
      {
        hints: ["identity files hold secret keys (AGE-SECRET-KEY-1…); use -r or -R for recipients"],
      },
    )
  }
  throw new IdentityParseError("unknown identity type", {
    hints: ["an identity is AGE-SECRET-KEY-1…, AGE-SECRET-KEY-PQ-1… or AGE-PLUGIN-NAME-1…"],
  })
}

/**
 * Parses an identity file (`-i`): lines of identities with `#` comments; or an age file
 * encrypted with a passphrase whose plaintext is such a file (the passphrase is asked only
 * when a header needs these identities); or one SSH private key.
 * @param data the file's bytes or text
 * @returns the identities, at least one
 * @throws IdentityParseError naming the file and line (never the line's content)
 */
export async function parseIdentityFile(
  data: string | Uint8Array,
  opts: KeyFileOptions = {},
): Promise<readonly Identity[]> {
  const name = describeName(opts.name)
  const bytes = typeof data === "string" ? new TextEncoder().encode(data) : data
  const start = new TextDecoder("latin1").decode(bytes.subarray(0, 1100)).trimStart()
  if (start.startsWith(AGE_FILE_START) || start.startsWith(ARMOR_BEGIN)) {
    return [new EncryptedIdentityFile(bytes, opts.name ?? "(text)", opts)]
  }
  if (start.startsWith("-----BEGIN")) {
    const { parseSshIdentity } = await import("./ssh-private-key.js")
    const text = new TextDecoder().decode(bytes)
    const ask = opts.askPassphrase
    return [
      await parseSshIdentity(text, {
        name: opts.name ?? "SSH key",
        ...(ask === undefined ? {} : { passphrase: ask }),
        ...(opts.sshPublicKey === undefined ? {} : { publicKey: opts.sshPublicKey }),
      }),
    ]
  }
  const text = decodeText(bytes, name, IdentityParseError)
  const identities: Identity[] = []
  for (const [index, line] of splitLines(text).entries()) {
    if (line === "" || line.startsWith("#")) continue
    const where = `identity file ${name} line ${index + 1}`
    if (/^age1/i.test(line) || line.startsWith("ssh-")) {
      throw new IdentityParseError(`${where}: apparent recipient found in identities file`, {
        hints: [
          "identity files hold secret keys (AGE-SECRET-KEY-1…); a public key (age1…, ssh-…) goes to -r or -R when encrypting",
        ],
      })
    }
    try {
      identities.push(await parseIdentity(line))
    } catch (cause) {
      throw new IdentityParseError(`${where}: not a valid identity`, {
        cause,
        hints: cause instanceof IdentityParseError ? cause.hints : [],
      })
    }
  }
  if (identities.length === 0) {
    throw new IdentityParseError(`no identities found in identity file ${name}`, {
      hints: ["an identity file holds AGE-SECRET-KEY-1… lines, as written by age-keygen"],
    })
  }
  return identities
}

/**
 * An identity file encrypted with a passphrase (docs/formats/age.md "Identity and recipient
 * files"): decrypted on first use, so the passphrase is asked only when a file actually
 * needs these identities.
 */
export class EncryptedIdentityFile implements Identity {
  readonly name: string
  readonly #ciphertext: Uint8Array
  readonly #opts: KeyFileOptions
  #identities: Promise<readonly Identity[]> | undefined

  /**
   * @param ciphertext the encrypted identity file (binary or armored)
   * @param name the file's name for messages and the prompt
   */
  constructor(ciphertext: Uint8Array, name: string, opts: KeyFileOptions = {}) {
    this.#ciphertext = ciphertext
    this.name = name
    this.#opts = opts
  }

  /** @returns the identities inside, decrypting the file (asking the passphrase) once */
  identities(): Promise<readonly Identity[]> {
    this.#identities ??= this.#decrypt()
    return this.#identities
  }

  async #decrypt(): Promise<readonly Identity[]> {
    const ask = this.#opts.askPassphrase
    const what = `identity file ${describeName(this.name)}`
    if (ask === undefined) {
      const { PassphraseError } = await import("./errors.js")
      throw new PassphraseError(
        `${what} is encrypted with a passphrase and there is no terminal to ask it`,
        {
          hints: ["decrypt the identity file first, or run from a terminal"],
        },
      )
    }
    const [{ decrypt }, { ScryptIdentity }] = await Promise.all([
      import("./decrypt.js"),
      import("./scrypt.js"),
    ])
    const passphrase = await ask(`Enter passphrase for ${what}:`)
    let plaintext: Uint8Array
    try {
      plaintext = await decrypt(this.#ciphertext, [new ScryptIdentity(passphrase)])
    } catch (cause) {
      const { NoIdentityMatchError, PassphraseError } = await import("./errors.js")
      if (cause instanceof NoIdentityMatchError && cause.stanzaTypes.includes("scrypt")) {
        throw new PassphraseError(`incorrect passphrase for ${what}`, { cause })
      }
      if (cause instanceof NoIdentityMatchError) {
        throw new IdentityParseError(
          `${what} is an age file, but not one encrypted with a passphrase`,
          {
            cause,
            hints: ["an encrypted identity file is made with: coffer age -p -o key.age key.txt"],
          },
        )
      }
      throw cause
    }
    try {
      return await parseIdentityFile(plaintext, { ...this.#opts, name: this.name })
    } finally {
      plaintext.fill(0)
    }
  }

  /**
   * @returns the file key from the first identity inside that matches, or null
   */
  async unwrapFileKey(stanzas: readonly Stanza[]): Promise<Uint8Array | null> {
    for (const identity of await this.identities()) {
      const fileKey = await identity.unwrapFileKey(stanzas)
      if (fileKey !== null) return fileKey
    }
    return null
  }
}

function splitLines(text: string): string[] {
  const lines = text.split("\n").map((l) => (l.endsWith("\r") ? l.slice(0, -1) : l))
  if (lines.at(-1) === "") lines.pop()
  return lines
}

function decodeText(
  data: string | Uint8Array,
  name: string,
  ErrorClass: typeof IdentityParseError | typeof RecipientParseError,
): string {
  if (typeof data === "string") return data
  if (data.length > KEY_FILE_SIZE_LIMIT) {
    throw new ErrorClass(`${name} is larger than ${KEY_FILE_SIZE_LIMIT} bytes`)
  }
  try {
    return new TextDecoder("utf-8", { fatal: true, ignoreBOM: false }).decode(data)
  } catch (cause) {
    throw new ErrorClass(`${name} is not UTF-8 text`, {
      cause,
      hints: ["is it a binary file? key files are text, one key per line"],
    })
  }
}

/** Quotes a path for messages; `standard input` and other descriptions stay bare. */
function describeName(name: string | undefined): string {
  if (name === undefined) return "(text)"
  if (name === "-" || name === "standard input") return "on standard input"
  return JSON.stringify(name)
}

function abbreviate(text: string): string {
  return text.length > 40 ? `${text.slice(0, 37)}...` : text
}
