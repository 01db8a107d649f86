/**
 * Writing an agenix secret to its rule, and telling whether a secret already matches its
 * rule without a record on the side (docs/agenix.md "The agenix command line": "rekeying
 * only the files whose recipients changed (age does not reveal recipients …)").
 *
 * An age header does not say who an X25519 stanza is for: its only argument is a random
 * ephemeral share. So agenix re-encrypts every file on `-r`, and every file changes in git.
 * coffer makes its own stanzas checkable instead: when it writes a secret, the ephemeral
 * secret of each X25519 and ssh-ed25519 stanza is derived from the file key and the
 * recipient (HKDF-SHA-256, a coffer-specific label). Anyone holding the file key (that is,
 * anyone who can decrypt the file) can rebuild the exact stanza coffer would write for a
 * recipient and look for it byte for byte in the header. The file is standard age; Go age
 * and agenix read it as any other.
 *
 * Security: the ephemeral secret only protects the file key, and it is derived from that
 * file key (fresh and random for every file), so whoever can derive it already knows what
 * it protects; to everyone else it is as unpredictable as a random one. It is distinct per
 * recipient and per file, so no two stanzas share an ephemeral secret.
 *
 * A file "matches its rule" when every stanza in its header is accounted for by exactly one
 * of the rule's recipients and every recipient has its stanza:
 * - X25519 and ssh-ed25519: the rebuilt stanza is in the header (proof);
 * - ssh-rsa (RSA-OAEP is randomised by OpenSSL, so it can't be rebuilt): a stanza with the
 *   key's tag (the first 4 bytes of SHA-256 of the key);
 * - plugin and post-quantum recipients can't be checked: such files are always rekeyed.
 * Files written by other tools (random ephemerals) never match and are rekeyed once; after
 * that coffer can tell. The armor setting must match too.
 */
import { hkdfSync } from "node:crypto"
import { decrypt, inspectHeader } from "../age/decrypt.js"
import { encrypt } from "../age/encrypt.js"
import { HeaderError } from "../age/errors.js"
import { parseRecipient } from "../age/keyfile.js"
import type { Identity, Recipient, Stanza } from "../age/recipient.js"
import { SshEd25519Recipient } from "../age/ssh-ed25519.js"
import { SshRsaRecipient } from "../age/ssh-rsa.js"
import { X25519Recipient } from "../age/x25519.js"
import { wipeBytes } from "../internal/bytes.js"
import type { Entropy } from "../internal/entropy.js"
import { systemEntropy } from "../internal/entropy.js"
import type { AgenixRule } from "./rules.js"

/** HKDF info prefix for derived ephemeral secrets (coffer's own, versioned). */
const EPHEMERAL_INFO = "coffer.dev/agenix/ephemeral/v1"

/** One of a rule's recipients, with how its stanza can be recognised. */
interface RuleRecipient {
  /** The public key as written in the rules file. */
  readonly key: string
  /** Wraps file keys; X25519 and ssh-ed25519 with derived ephemeral secrets. */
  readonly recipient: Recipient
  /** How a stanza is recognised as this recipient's. */
  readonly check:
    | { readonly kind: "rebuild" }
    | { readonly kind: "tag"; readonly type: string; readonly tag: string }
    | { readonly kind: "none"; readonly why: string }
}

/**
 * Parses a rule's public keys into recipients whose stanzas coffer can recognise later.
 * @param publicKeys the rule's keys (`age1…`, `ssh-ed25519 …`, `ssh-rsa …`, plugins)
 * @returns the recipients, in the rule's order
 * @throws RecipientParseError naming the key that is invalid
 */
async function ruleRecipients(publicKeys: readonly string[]): Promise<RuleRecipient[]> {
  const out: RuleRecipient[] = []
  for (const key of publicKeys) {
    const parsed = await parseRecipient(key)
    if (parsed instanceof X25519Recipient) {
      const id = concat("X25519\n", parsed.publicKey)
      out.push({
        key,
        recipient: derivedRecipient(
          id,
          (entropy) => new X25519Recipient(parsed.publicKey, { entropy }),
        ),
        check: { kind: "rebuild" },
      })
    } else if (parsed instanceof SshEd25519Recipient) {
      const id = concat("ssh-ed25519\n", parsed.wirePublicKey)
      out.push({
        key,
        recipient: derivedRecipient(
          id,
          (entropy) => new SshEd25519Recipient(parsed.publicKey, { entropy }),
        ),
        check: { kind: "rebuild" },
      })
    } else if (parsed instanceof SshRsaRecipient) {
      out.push({ key, recipient: parsed, check: { kind: "tag", type: "ssh-rsa", tag: parsed.tag } })
    } else {
      out.push({
        key,
        recipient: parsed,
        check: { kind: "none", why: `${abbreviate(key)} is a plugin or post-quantum recipient` },
      })
    }
  }
  return out
}

/**
 * A recipient whose ephemeral secret is HKDF(file key, info = label ‖ recipient id): the
 * stanza is then a function of the file key and the recipient, so it can be rebuilt.
 */
function derivedRecipient(id: Uint8Array, make: (entropy: Entropy) => Recipient): Recipient {
  return {
    wrapFileKey: (fileKey) => {
      const ephemeral = new Uint8Array(
        hkdfSync("sha256", fileKey, new Uint8Array(0), concat(`${EPHEMERAL_INFO}\n`, id), 32),
      )
      const entropy: Entropy = (length) => {
        if (length !== 32) return systemEntropy(length)
        return ephemeral.slice()
      }
      const wrapped = make(entropy).wrapFileKey(fileKey)
      return wrapped.finally(() => {
        wipeBytes(ephemeral)
      })
    },
  }
}

/**
 * Encrypts a secret to its rule's recipients (armored when the rule says so), with
 * recognisable stanzas.
 * @param plaintext the secret
 * @param rule the file's rule
 * @param entropy the file key and payload nonce source (default: the system CSPRNG)
 * @returns the age file
 * @throws RecipientParseError, IncompatibleRecipientsError
 */
export async function encryptToRule(
  plaintext: Uint8Array,
  rule: Pick<AgenixRule, "publicKeys" | "armor">,
  entropy: Entropy = systemEntropy,
): Promise<Uint8Array> {
  const recipients = await ruleRecipients(rule.publicKeys)
  return encrypt(
    plaintext,
    recipients.map((r) => r.recipient),
    { armor: rule.armor, entropy },
  )
}

/** A decrypted secret and whether its file already matches its rule. */
export interface CheckedSecret {
  /** The plaintext (a secret: the caller wipes it). */
  readonly plaintext: Uint8Array
  /** Whether the header has exactly the rule's recipients (and the rule's armor). */
  readonly matches: boolean
  /** Why it does not match (public facts only: recipients, counts, armor), or `""`. */
  readonly reason: string
}

/**
 * Decrypts a secret and checks its header against its rule.
 * @param ciphertext the age file (binary or armored)
 * @param identities the identities to decrypt with
 * @param rule the file's rule
 * @returns the plaintext and the verdict
 * @throws the errors of `decrypt` (NoIdentityMatchError, HeaderError, PayloadError…)
 */
export async function checkAgainstRule(
  ciphertext: Uint8Array,
  identities: readonly Identity[],
  rule: Pick<AgenixRule, "publicKeys" | "armor">,
): Promise<CheckedSecret> {
  const info = inspectHeader(ciphertext, true)
  if (info === null) throw new HeaderError("the file's header is truncated")
  let fileKey: Uint8Array | undefined
  const recording = identities.map((identity): Identity => ({
    unwrapFileKey: async (stanzas) => {
      const key = await identity.unwrapFileKey(stanzas)
      if (key !== null) fileKey = key.slice()
      return key
    },
  }))
  const plaintext = await decrypt(ciphertext, recording)
  try {
    if (fileKey === undefined) return { plaintext, matches: false, reason: "no file key" }
    if (info.armored !== rule.armor) {
      return {
        plaintext,
        matches: false,
        reason: rule.armor ? "the rule asks for armor" : "the rule no longer asks for armor",
      }
    }
    const reason = await compareStanzas(info.stanzas, fileKey, rule.publicKeys)
    return { plaintext, matches: reason === "", reason }
  } finally {
    if (fileKey !== undefined) wipeBytes(fileKey)
  }
}

/** @returns "" when the stanzas are exactly the rule's, else why not */
async function compareStanzas(
  stanzas: readonly Stanza[],
  fileKey: Uint8Array,
  publicKeys: readonly string[],
): Promise<string> {
  const recipients = await ruleRecipients(publicKeys)
  const unmatched = new Set(stanzas.keys())
  const missing: string[] = []
  for (const r of recipients) {
    let found: number | undefined
    switch (r.check.kind) {
      case "rebuild": {
        const [expected] = await r.recipient.wrapFileKey(fileKey)
        if (expected !== undefined)
          found = [...unmatched].find((i) => sameStanza(stanzas[i], expected))
        break
      }
      case "tag": {
        const { type, tag } = r.check
        found = [...unmatched].find((i) => {
          const stanza = stanzas[i]
          return stanza !== undefined && stanza.type === type && stanza.args[0] === tag
        })
        break
      }
      case "none":
        return `${r.check.why}, which can't be checked`
      default: {
        const never: never = r.check
        return never
      }
    }
    if (found === undefined) missing.push(abbreviate(r.key))
    else unmatched.delete(found)
  }
  const extra = unmatched.size
  const parts = [
    ...(missing.length > 0 ? [`no stanza for ${missing.join(", ")}`] : []),
    ...(extra > 0
      ? [
          `${String(extra)} stanza${extra === 1 ? "" : "s"} for recipients not in the rule (or written by another tool)`,
        ]
      : []),
  ]
  return parts.join("; ")
}

function sameStanza(a: Stanza | undefined, b: Stanza): boolean {
  if (a === undefined || a.type !== b.type || a.args.length !== b.args.length) return false
  if (a.args.some((arg, i) => arg !== b.args[i])) return false
  return a.body.length === b.body.length && a.body.every((byte, i) => byte === b.body[i])
}

function concat(label: string, bytes: Uint8Array): Uint8Array {
  const head = new TextEncoder().encode(label)
  const out = new Uint8Array(head.length + bytes.length)
  out.set(head, 0)
  out.set(bytes, head.length)
  return out
}

/** A public key shortened for messages: `age1ql3z7hjy…`, `ssh-ed25519 AAAAC3Nz…`. */
function abbreviate(key: string): string {
  const [type, body, comment] = key.split(/\s+/)
  if (type !== undefined && body !== undefined && type.startsWith("ssh-")) {
    return `${type} …${body.slice(-8)}${comment === undefined ? "" : ` (${comment})`}`
  }
  return key.length > 20 ? `${key.slice(0, 16)}…${key.slice(-4)}` : key
}
