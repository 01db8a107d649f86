/**
 * One error class per age failure people must tell apart (test/vectors/age/FORMAT.md: the
 * five outcomes header, HMAC, payload, armor, no match), plus key parsing failures.
 */
import { ToolError } from "../internal/errors.js"

/** The header is malformed, or a stanza meant for one of our identities is invalid. */
export class HeaderError extends ToolError {}

/** The header parsed and a file key was unwrapped, but the header MAC does not verify. */
export class HeaderMacError extends ToolError {}

/** The payload failed to authenticate or is truncated; plaintext released so far is authentic. */
export class PayloadError extends ToolError {}

/** The ASCII armor is invalid. */
export class ArmorError extends ToolError {}

/** No identity could unwrap any stanza; lists the stanza types the file has. */
export class NoIdentityMatchError extends ToolError {
  readonly stanzaTypes: readonly string[]
  constructor(
    stanzaTypes: readonly string[],
    opts: { hints?: readonly string[]; cause?: unknown } = {},
  ) {
    super(
      `no identity matched any of the recipients (the file has ${
        stanzaTypes.length === 0 ? "no" : stanzaTypes.map((t) => JSON.stringify(t)).join(", ")
      } stanzas)`,
      opts,
    )
    this.stanzaTypes = stanzaTypes
  }
}

/** A recipient string (`age1…`, `ssh-ed25519 …`) or recipients file line is invalid. */
export class RecipientParseError extends ToolError {}

/** An identity string, identity file or SSH private key is invalid or unsupported. */
export class IdentityParseError extends ToolError {}

/** A passphrase was wrong (for an SSH key or an encrypted identity file) or not available. */
export class PassphraseError extends ToolError {}

/** A passphrase-encrypted file's scrypt work factor needs more memory than can be allocated. */
export class ScryptMemoryError extends ToolError {}

/** Recipients that must not share a file (hybrid with classic, scrypt with anything). */
export class IncompatibleRecipientsError extends ToolError {}

/** An age plugin failed, was not found, or broke the protocol. */
export class PluginError extends ToolError {}
