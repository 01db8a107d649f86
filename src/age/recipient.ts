/**
 * The age recipient/identity contract (docs/formats/age.md "Header", docs/conventions.md
 * "The age contract").
 *
 * A recipient wraps a file key into one or more stanzas; an identity unwraps a file key
 * from the stanzas of a header. Every concrete key type (X25519, scrypt, SSH, hybrid,
 * plugin) is a small class implementing one or both.
 */

/** One recipient stanza of an age header: `-> type args...` and a body. */
export interface Stanza {
  readonly type: string
  readonly args: readonly string[]
  readonly body: Uint8Array
}

/** Something a file key can be encrypted to. */
export interface Recipient {
  /**
   * @param fileKey the 16-byte file key
   * @returns the stanzas to put in the header (usually one)
   */
  wrapFileKey(fileKey: Uint8Array): Promise<readonly Stanza[]>
}

/**
 * A recipient that declares labels (age 1.3): every recipient of one file must declare the
 * same set, which is how hybrid (`postquantum`) and classic recipients are kept apart and
 * how scrypt (a unique random label) stays alone. Recipients without labels have the empty set.
 */
export interface LabeledRecipient extends Recipient {
  readonly labels: readonly string[]
}

/** @returns whether `r` declares labels */
export function isLabeledRecipient(r: Recipient): r is LabeledRecipient {
  return "labels" in r && Array.isArray((r as { labels?: unknown }).labels)
}

/**
 * A recipient whose labels are only known once it has wrapped: a plugin reports them during
 * the recipient-v1 exchange (docs/formats/age.md "Plugins" `labels`). Encryption uses these
 * labels, not `labels`, for the mixing rule; a recipient that reports none has the empty set.
 */
export interface WrapLabelsRecipient extends Recipient {
  wrapFileKeyWithLabels(
    fileKey: Uint8Array,
  ): Promise<{ readonly stanzas: readonly Stanza[]; readonly labels: readonly string[] }>
}

/** @returns whether `r` reports its labels when wrapping */
export function isWrapLabelsRecipient(r: Recipient): r is WrapLabelsRecipient {
  return typeof (r as { wrapFileKeyWithLabels?: unknown }).wrapFileKeyWithLabels === "function"
}

/** Something that can recover a file key from a header's stanzas. */
export interface Identity {
  /**
   * @returns the file key, or null if no stanza is for this identity
   * @throws HeaderError only on a malformed stanza meant for this identity
   */
  unwrapFileKey(stanzas: readonly Stanza[]): Promise<Uint8Array | null>
}

/**
 * `unwrapFileKey` for an identity that unwraps one stanza at a time without waiting.
 * @param stanzas the header's stanzas
 * @param unwrapStanza the file key from one stanza, or null if it is not for this identity
 * @returns the first file key found, or null; what `unwrapStanza` throws becomes a rejection
 */
export function unwrapFirstStanza(
  stanzas: readonly Stanza[],
  unwrapStanza: (stanza: Stanza) => Uint8Array | null,
): Promise<Uint8Array | null> {
  try {
    for (const stanza of stanzas) {
      const fileKey = unwrapStanza(stanza)
      if (fileKey !== null) return Promise.resolve(fileKey)
    }
    return Promise.resolve(null)
  } catch (error) {
    return Promise.reject(error instanceof Error ? error : new Error(String(error)))
  }
}
