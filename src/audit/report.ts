/**
 * The audit's result as plain data (docs/audit.md "JSON schema"): the identities, every
 * encrypted file with who can read it, and the findings. `--json` prints exactly this; the
 * table and the HTML page are renderings of it.
 */

/** The JSON schema's name and version (docs/audit.md). */
export const AUDIT_SCHEMA = "coffer-audit/v1"

/** Every class of finding, most severe level first (docs/audit.md "Findings"). */
export const FINDING_CLASSES = [
  "plaintext-file",
  "plaintext-value",
  "identity-file",
  "stale",
  "undecryptable",
  "unreadable",
  "key-age",
  "unmatched-file",
  "unused-rule",
  "unused-key",
] as const

export type FindingClass = (typeof FINDING_CLASSES)[number]

/** Severity levels, highest first; `--fail-on LEVEL` fails on that level and above. */
export const LEVELS = ["plaintext", "stale", "warning"] as const

export type Level = (typeof LEVELS)[number]

/** The level of each class. */
export const LEVEL_OF: Readonly<Record<FindingClass, Level>> = {
  "plaintext-file": "plaintext",
  "plaintext-value": "plaintext",
  "identity-file": "plaintext",
  stale: "stale",
  undecryptable: "stale",
  unreadable: "stale",
  "key-age": "stale",
  "unmatched-file": "warning",
  "unused-rule": "warning",
  "unused-key": "warning",
}

/** Which rule governs a file. */
export type RuleRef =
  | {
      readonly source: "sops"
      /** The `.sops.yaml`, relative to the audited directory. */
      readonly file: string
      /** 0-based position in `creation_rules`. */
      readonly index: number
      readonly line: number | null
      readonly pathRegex: string
    }
  | {
      readonly source: "agenix"
      /** The `secrets.nix`, relative to the audited directory. */
      readonly file: string
      /** The attribute name in the rules file. */
      readonly name: string
    }

/** One master key of an identity. */
export interface IdentityKey {
  /** `age`, `age-pq`, `age-plugin`, `ssh-ed25519`, `ssh-rsa`, `pgp`, `kms`, `gcp_kms`, … */
  readonly type: string
  /** The canonical key (SSH keys without their comment). */
  readonly key: string
  /** The SSH stanza tag, for SSH keys. */
  readonly tag?: string
}

/** A host or person: the keys that belong to one name. */
export interface IdentityReport {
  /** Unique within the report: the name, or the shortened key when there is none. */
  readonly id: string
  /** The YAML anchor or the `secrets.nix` name, null when the key has none. */
  readonly name: string | null
  /** The list it was declared in (`hosts`, `systems`), null when none. */
  readonly group: string | null
  readonly keys: readonly IdentityKey[]
  /** Whether a rules file mentions it (declares it or lists it in a rule). */
  readonly listed: boolean
}

/**
 * What an identity can do with a file:
 * - `read`: can decrypt it, and the rule agrees (or there is no rule);
 * - `share`: holds one share of a Shamir-split data key (more groups are needed);
 * - `extra`: can decrypt it but its rule no longer lists it (stale);
 * - `missing`: its rule lists it but the file is not encrypted to it (stale);
 * - `unverified`: the rule lists it and the file has an anonymous stanza (age X25519) that
 *   may be its: an age header does not say whom an X25519 stanza is for.
 */
export type Access = "read" | "share" | "extra" | "missing" | "unverified"

/** The age of a file's data key (sops) or file key (age). */
export interface DataKeyAge {
  /** sops `lastmodified` (RFC 3339), null for age files. */
  readonly lastModified: string | null
  /** When the data key was made, when known (git history or the file's last commit). */
  readonly createdAt: string | null
  /** How `createdAt` was found: `history`, `commit`, `lastmodified` (a lower bound), or null. */
  readonly source: "history" | "commit" | "lastmodified" | null
  /** Whole days from `createdAt` (or `lastModified`) to the audit's time. */
  readonly ageDays: number | null
}

/** One encrypted file. */
export interface FileReport {
  /** Relative to the audited directory, `/`-separated. */
  readonly path: string
  readonly kind: "sops" | "age"
  /** sops store (`yaml`, `json`, `dotenv`, `ini`, `binary`); `age` or `age-armored` for age files. */
  readonly format: string
  readonly rule: RuleRef | null
  /** Key groups as identity ids (one group for age files); the Shamir threshold for sops. */
  readonly keyGroups: readonly (readonly string[])[]
  readonly threshold: number
  /** Identity id → what it can do with this file (identities not named here: nothing). */
  readonly access: Readonly<Record<string, Access>>
  /** Anonymous X25519 stanzas in an age file (0 for sops files). */
  readonly anonymousStanzas: number
  readonly dataKey: DataKeyAge
  /** Whether any finding is about this file. */
  readonly findings: readonly FindingClass[]
}

/** One finding. `details` depend on the class (docs/audit.md "Findings"). */
export interface Finding {
  readonly class: FindingClass
  readonly level: Level
  /** The file (or rules file) it is about, relative to the audited directory. */
  readonly path: string
  /** One line for people; never a secret. */
  readonly message: string
  /** The command that fixes it, to run in the audited directory, or null. */
  readonly fix: string | null
  readonly details: Readonly<Record<string, unknown>>
}

/** The whole audit. */
export interface AuditReport {
  readonly schema: typeof AUDIT_SCHEMA
  /** The audited directory (absolute). */
  readonly root: string
  /** When the audit ran (RFC 3339). */
  readonly generatedAt: string
  /** `tree` (the whole tree) or `staged` (only what git has staged). */
  readonly scope: "tree" | "staged"
  /** The rules files read, relative to the root. */
  readonly rules: { readonly sops: string | null; readonly agenix: readonly string[] }
  readonly maxAgeDays: number | null
  readonly identities: readonly IdentityReport[]
  readonly files: readonly FileReport[]
  readonly findings: readonly Finding[]
  readonly summary: {
    /** Files looked at (every file of the tree, or every staged file). */
    readonly scanned: number
    readonly encrypted: number
    readonly skipped: readonly { readonly path: string; readonly reason: string }[]
    /** Finding count per class (every class present, 0 when none). */
    readonly byClass: Readonly<Record<FindingClass, number>>
  }
}
