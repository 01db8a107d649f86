/**
 * PLACEHOLDER (being written): the mlkem768x25519 hybrid recipient (age-spec.md §5.3).
 * The exported names below are the contract other modules build against.
 */
import type { Identity, LabeledRecipient, Stanza } from "./recipient.js"
import { IdentityParseError, RecipientParseError } from "./errors.js"

export class HybridRecipient implements LabeledRecipient {
  readonly labels: readonly string[] = ["postquantum"]
  wrapFileKey(_fileKey: Uint8Array): Promise<readonly Stanza[]> {
    return Promise.reject(new RecipientParseError("hybrid recipients are not implemented yet"))
  }
}

export class HybridIdentity implements Identity {
  unwrapFileKey(_stanzas: readonly Stanza[]): Promise<Uint8Array | null> {
    return Promise.resolve(null)
  }
}

export function parseHybridRecipient(_text: string): HybridRecipient {
  throw new RecipientParseError("hybrid recipients are not implemented yet")
}

export function parseHybridIdentity(_text: string): HybridIdentity {
  throw new IdentityParseError("hybrid identities are not implemented yet")
}
