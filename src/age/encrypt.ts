/**
 * Encryption (docs/formats/age.md "Overview", "Header", "Payload"): a fresh file key
 * wrapped to every recipient, the header MAC, a fresh payload nonce and the STREAM payload,
 * optionally armored ("Armor"). As a buffer function and as a Web Streams transform that
 * holds at most one chunk.
 *
 * Recipients must all declare the same label set (age 1.3): hybrid (`postquantum`) and
 * classic recipients can't share a file, and scrypt (a unique random label) must be alone.
 */
import { concatBytes, wipeBytes } from "../internal/bytes.js"
import { systemEntropy } from "../internal/entropy.js"
import type { Entropy } from "../internal/entropy.js"
import { ArmorEncoder, encodeArmor } from "./armor.js"
import { IncompatibleRecipientsError, RecipientParseError } from "./errors.js"
import { encodeHeader } from "./header.js"
import {
  CHUNK_SIZE,
  PAYLOAD_NONCE_SIZE,
  PayloadEncryptor,
  derivePayloadKey,
  encryptedPayloadSize,
  sealChunk,
} from "./payload.js"
import { isLabeledRecipient, isWrapLabelsRecipient } from "./recipient.js"
import type { Recipient, Stanza } from "./recipient.js"

/** Options for `encrypt` and `encryptStream`. */
export interface EncryptOptions {
  /** Wrap the output in the ASCII armor. */
  readonly armor?: boolean
  /** Source of the file key and payload nonce (default: the system CSPRNG). */
  readonly entropy?: Entropy
}

/** What encrypting needs once the recipients have wrapped the file key. */
export interface PreparedEncryption {
  /** The header followed by the payload nonce: the first bytes of the binary file. */
  readonly prefix: Uint8Array
  /** The STREAM payload key. */
  readonly payloadKey: Uint8Array
}

/**
 * Checks the label rule: every recipient must declare the same set of labels.
 * @throws RecipientParseError when there are no recipients
 * @throws IncompatibleRecipientsError when label sets differ
 */
export function checkRecipientLabels(recipients: readonly Recipient[]): void {
  if (recipients.length === 0) {
    throw new RecipientParseError("no recipients specified", {
      hints: ["give at least one recipient or passphrase"],
    })
  }
  // Plugins report their labels while wrapping: they are checked after wrapping instead.
  checkLabelLists(
    recipients
      .filter((r) => !isWrapLabelsRecipient(r))
      .map((r) => (isLabeledRecipient(r) ? r.labels : [])),
  )
}

/**
 * The label rule over label lists (one per recipient).
 * @throws IncompatibleRecipientsError when label sets differ
 */
function checkLabelLists(labelLists: readonly (readonly string[])[]): void {
  const sets = labelLists.map((l) => [...new Set(l)].sort().join("\n"))
  const first = sets[0]
  if (sets.every((s) => s === first)) return
  if (labelLists.some((l) => l.some((x) => x.startsWith("scrypt-")))) {
    throw new IncompatibleRecipientsError(
      "a passphrase (scrypt) recipient can't be combined with other recipients",
      { hints: ["encrypt with the passphrase alone, or with public-key recipients only"] },
    )
  }
  const postQuantum = labelLists.map((l) => l.includes("postquantum"))
  if (postQuantum.some((x) => x) && postQuantum.some((x) => !x)) {
    throw new IncompatibleRecipientsError("can't mix post-quantum and classic recipients", {
      hints: [
        "a file for an age1pq1 recipient would be only as strong as its classic recipients",
        "use post-quantum recipients for everyone, or classic ones only",
      ],
    })
  }
  throw new IncompatibleRecipientsError("recipients have incompatible labels", {
    hints: ["these recipient types declare they can't share a file; encrypt separately"],
  })
}

/**
 * Picks a file key, wraps it to every recipient, and builds the header and payload nonce.
 * @throws IncompatibleRecipientsError, RecipientParseError (see `checkRecipientLabels`), or
 *   whatever a recipient throws while wrapping
 */
export async function prepareEncryption(
  recipients: readonly Recipient[],
  entropy: Entropy = systemEntropy,
): Promise<PreparedEncryption> {
  checkRecipientLabels(recipients)
  const fileKey = entropy(16)
  try {
    const stanzas: Stanza[] = []
    const labelLists: (readonly string[])[] = []
    for (const recipient of recipients) {
      if (isWrapLabelsRecipient(recipient)) {
        const wrapped = await recipient.wrapFileKeyWithLabels(fileKey)
        stanzas.push(...wrapped.stanzas)
        labelLists.push(wrapped.labels)
      } else {
        stanzas.push(...(await recipient.wrapFileKey(fileKey)))
        labelLists.push(isLabeledRecipient(recipient) ? recipient.labels : [])
      }
    }
    // docs/formats/age.md "Plugins": labels a plugin declared while wrapping count for the
    // mixing rule
    if (recipients.some(isWrapLabelsRecipient)) checkLabelLists(labelLists)
    const header = encodeHeader(stanzas, fileKey)
    const nonce = entropy(PAYLOAD_NONCE_SIZE)
    return { prefix: concatBytes(header, nonce), payloadKey: derivePayloadKey(fileKey, nonce) }
  } finally {
    wipeBytes(fileKey)
  }
}

/**
 * Encrypts a whole plaintext.
 * @returns the age file (binary, or armored text as bytes)
 * @throws IncompatibleRecipientsError when the recipients can't share a file
 * @throws RecipientParseError when there are no recipients
 */
export async function encrypt(
  plaintext: Uint8Array,
  recipients: readonly Recipient[],
  opts: EncryptOptions = {},
): Promise<Uint8Array> {
  const { prefix, payloadKey } = await prepareEncryption(recipients, opts.entropy)
  const out = new Uint8Array(prefix.length + encryptedPayloadSize(plaintext.length))
  out.set(prefix, 0)
  let at = prefix.length
  let counter = 0
  let offset = 0
  do {
    const end = Math.min(offset + CHUNK_SIZE, plaintext.length)
    // spec: a plaintext that is a multiple of 64 KiB ends with a full final chunk
    const sealed = sealChunk(
      payloadKey,
      counter++,
      plaintext.subarray(offset, end),
      end === plaintext.length,
    )
    out.set(sealed, at)
    at += sealed.length
    offset = end
  } while (offset < plaintext.length)
  wipeBytes(payloadKey)
  return opts.armor === true ? encodeArmor(out) : out
}

/**
 * An encrypting transform: plaintext in, age file out (binary or armored). The header is
 * written as soon as the recipients have wrapped the file key; memory stays at one chunk.
 * @returns a Web Streams transform; it errors with the classes `encrypt` throws
 */
export function encryptStream(
  recipients: readonly Recipient[],
  opts: EncryptOptions = {},
): TransformStream<Uint8Array, Uint8Array> {
  let encryptor: PayloadEncryptor | null = null
  const armor = opts.armor === true ? new ArmorEncoder() : null
  return new TransformStream<Uint8Array, Uint8Array>({
    async start(controller) {
      const emit = armorEmitter(armor, controller)
      const { prefix, payloadKey } = await prepareEncryption(recipients, opts.entropy)
      encryptor = new PayloadEncryptor(payloadKey)
      emit(prefix)
    },
    transform(chunk, controller) {
      if (encryptor === null) throw new RangeError("encryption was not started")
      encryptor.push(chunk, armorEmitter(armor, controller))
    },
    flush(controller) {
      if (encryptor === null) throw new RangeError("encryption was not started")
      const emit = armorEmitter(armor, controller)
      encryptor.finish(emit)
      armor?.finish((text) => {
        controller.enqueue(text)
      })
    },
  })
}

function armorEmitter(
  armor: ArmorEncoder | null,
  controller: TransformStreamDefaultController<Uint8Array>,
): (bytes: Uint8Array) => void {
  const enqueue = (bytes: Uint8Array): void => {
    controller.enqueue(bytes)
  }
  if (armor === null) return enqueue
  return (bytes) => {
    armor.push(bytes, enqueue)
  }
}
