/**
 * What plaintext that should not be in a repository looks like (docs/audit.md
 * "Findings"): private keys (an age identity, an OpenSSH or PEM private key, a PGP secret
 * key block) in any file, and, among the values a sops file leaves in clear, those that
 * look like secrets: a known token format, a secret-sounding key with a real-looking value,
 * or a long random-looking string. Pure. Nothing here ever returns the secret itself: only
 * where it is and why it looks like one.
 */

/** A private key found in a file. */
export interface IdentityMarker {
  readonly kind: "age-identity" | "ssh-private-key" | "pem-private-key" | "pgp-private-key"
  /** 1-based line of the marker. */
  readonly line: number
  /** Whether the key is protected by a passphrase (then it is a warning, not a leak). */
  readonly passphraseProtected: boolean
}

const BECH32_UPPER = "[QPZRY9X8GF2TVDW0S3JN54KHCE6MUA7L]"
const AGE_IDENTITY = new RegExp(`AGE-SECRET-KEY-(?:PQ-)?1${BECH32_UPPER}{58,}`, "g")
const PEM_BEGIN =
  /-----BEGIN ((?:RSA |EC |DSA |ENCRYPTED |OPENSSH )?PRIVATE KEY|PGP PRIVATE KEY BLOCK)-----/g

function lineAt(text: string, offset: number): number {
  let line = 1
  for (let i = text.indexOf("\n"); i !== -1 && i < offset; i = text.indexOf("\n", i + 1)) line++
  return line
}

/** Whether an OpenSSH private key block names a cipher other than "none". */
function opensshIsEncrypted(text: string, offset: number): boolean {
  const end = text.indexOf("-----END OPENSSH PRIVATE KEY-----", offset)
  const body = text
    .slice(text.indexOf("\n", offset) + 1, end === -1 ? undefined : end)
    .replace(/\s+/g, "")
  const bytes = Buffer.from(body.slice(0, 200), "base64")
  // "openssh-key-v1\0", then uint32 length + cipher name
  const magic = "openssh-key-v1\0"
  if (bytes.subarray(0, magic.length).toString("latin1") !== magic) return false
  const length = bytes.readUInt32BE(magic.length)
  const cipher = bytes.subarray(magic.length + 4, magic.length + 4 + length).toString("latin1")
  return cipher !== "none"
}

/**
 * Finds private keys in a file's text.
 * @param text the file's content
 * @returns one marker per key, in file order
 */
export function findIdentityMarkers(text: string): IdentityMarker[] {
  const markers: IdentityMarker[] = []
  if (text.includes("AGE-SECRET-KEY-")) {
    for (const m of text.matchAll(AGE_IDENTITY)) {
      markers.push({
        kind: "age-identity",
        line: lineAt(text, m.index),
        passphraseProtected: false,
      })
    }
  }
  if (text.includes("-----BEGIN ")) {
    for (const m of text.matchAll(PEM_BEGIN)) {
      const label = m[1] ?? ""
      const offset = m.index
      if (label === "PGP PRIVATE KEY BLOCK") {
        // gpg always protects exported secret keys unless --passphrase '' was used: can't tell
        markers.push({
          kind: "pgp-private-key",
          line: lineAt(text, offset),
          passphraseProtected: false,
        })
      } else if (label === "OPENSSH PRIVATE KEY") {
        markers.push({
          kind: "ssh-private-key",
          line: lineAt(text, offset),
          passphraseProtected: opensshIsEncrypted(text, offset),
        })
      } else {
        const head = text.slice(offset, offset + 200)
        markers.push({
          kind: "pem-private-key",
          line: lineAt(text, offset),
          passphraseProtected:
            label.startsWith("ENCRYPTED") || head.includes("Proc-Type: 4,ENCRYPTED"),
        })
      }
    }
  }
  return markers
}

/** Token formats whose shape alone says "credential". */
const TOKEN_FORMATS: readonly { readonly name: string; readonly pattern: RegExp }[] = [
  { name: "a Tailscale key", pattern: /^tskey-[a-z]+-[A-Za-z0-9]{6,}-[A-Za-z0-9]{10,}/ },
  {
    name: "a GitHub token",
    pattern: /^(?:gh[pousr]_[A-Za-z0-9]{30,}|github_pat_[A-Za-z0-9_]{30,})/,
  },
  { name: "a GitLab token", pattern: /^glpat-[A-Za-z0-9_-]{20,}/ },
  { name: "an AWS access key id", pattern: /^(?:AKIA|ASIA)[0-9A-Z]{16}$/ },
  { name: "a Slack token", pattern: /^xox[abprs]-[A-Za-z0-9-]{10,}/ },
  { name: "an API secret key", pattern: /^sk-(?:proj-|live_|test_)?[A-Za-z0-9_-]{20,}/ },
  {
    name: "a JSON web token",
    pattern: /^eyJ[A-Za-z0-9_-]{10,}\.eyJ[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]+/,
  },
  { name: "an age identity", pattern: /AGE-SECRET-KEY-(?:PQ-)?1[0-9A-Z]{50,}/ },
  { name: "a private key", pattern: /-----BEGIN [A-Z ]*PRIVATE KEY/ },
  { name: "a URL with a password", pattern: /^[a-z][a-z0-9+.-]*:\/\/[^/\s:@]+:[^/\s@]{3,}@/ },
]

const SECRET_KEY_NAME =
  /(?:^|[_.-])(?:pass(?:word|wd|phrase)?|secret|token|api[_-]?key|apikey|private[_-]?key|credentials?|auth[_-]?key|access[_-]?key|client[_-]?secret|psk)(?:$|[_.-])/i
const NOT_A_SECRET_KEY_NAME =
  /(?:[_.-](?:file|path|dir|env|name|id|user(?:name)?|length|ttl|expir\w*)$)/i
const PLACEHOLDER =
  /^(?:changeme|change[_-]?me|secret|password|todo|xxx+|\*+|example|dummy|placeholder|none|null|redacted|<.*>|\$\{.*\}|\{\{.*\}\}|%\(.*\)s)$/i

/** Shannon entropy in bits per character. */
function entropy(text: string): number {
  const counts = new Map<string, number>()
  for (const c of text) counts.set(c, (counts.get(c) ?? 0) + 1)
  let bits = 0
  for (const n of counts.values()) {
    const p = n / text.length
    bits -= p * Math.log2(p)
  }
  return bits
}

/**
 * Whether a value a sops file leaves in clear looks like a secret.
 * @param key the value's own key (the last map key on its path)
 * @param value the clear string
 * @returns why it looks like one, or undefined
 */
export function secretLikeReason(key: string, value: string): string | undefined {
  const text = value.trim()
  if (text.length < 8) return undefined
  for (const format of TOKEN_FORMATS) {
    if (format.pattern.test(text)) return `looks like ${format.name}`
  }
  if (/^(?:\/|\.\/|~\/|https?:\/\/[^@]*$)/.test(text) || /\s/.test(text)) return undefined
  if (PLACEHOLDER.test(text)) return undefined
  if (SECRET_KEY_NAME.test(key) && !NOT_A_SECRET_KEY_NAME.test(key)) {
    return `its key ${JSON.stringify(key)} names a secret`
  }
  if (text.length >= 24 && /^[A-Za-z0-9+/=_-]+$/.test(text)) {
    const hex = /^[0-9a-fA-F]+$/.test(text)
    if ((hex && text.length >= 32 && entropy(text) >= 3.0) || (!hex && entropy(text) >= 4.2)) {
      return "it is a long random-looking string"
    }
  }
  return undefined
}
