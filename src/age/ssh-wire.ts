/**
 * The SSH wire encoding (RFC 4251 §5: uint32, string, mpint) that SSH public keys and the
 * OpenSSH private key container are made of. age's SSH recipient types (docs/formats/age.md
 * "SSH recipients") hash the wire form of the public key for their stanza tag, so the exact
 * bytes matter.
 */
import { concatBytes } from "../internal/bytes.js"

/** Reads SSH wire values one after the other; every read throws `RangeError` past the end. */
export interface SshWireReader {
  /** @returns the next big-endian uint32 */
  readUint32(): number
  /** @returns the next length-prefixed string, as bytes (a view, not a copy) */
  readString(): Uint8Array
  /** @returns the next mpint as a non-negative bigint (a negative mpint throws `RangeError`) */
  readMpint(): bigint
  /** @returns the next `n` raw bytes */
  readBytes(n: number): Uint8Array
  /** @returns how many bytes are left */
  remaining(): number
}

/**
 * @param bytes the encoded data
 * @returns a reader positioned at the start of `bytes`
 */
export function createSshWireReader(bytes: Uint8Array): SshWireReader {
  let offset = 0
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  const readBytes = (n: number): Uint8Array => {
    if (n < 0 || offset + n > bytes.length) throw new RangeError("ssh wire data is truncated")
    const out = bytes.subarray(offset, offset + n)
    offset += n
    return out
  }
  const readUint32 = (): number => {
    if (offset + 4 > bytes.length) throw new RangeError("ssh wire data is truncated")
    const n = view.getUint32(offset)
    offset += 4
    return n
  }
  return {
    readUint32,
    readBytes,
    readString: () => readBytes(readUint32()),
    readMpint: () => {
      const raw = readBytes(readUint32())
      if (raw.length > 0 && (raw[0] ?? 0) >= 0x80) throw new RangeError("negative ssh mpint")
      return bytesToBigint(raw)
    },
    remaining: () => bytes.length - offset,
  }
}

/** @returns `value` as an SSH string: a uint32 length, then the bytes */
export function encodeSshString(value: Uint8Array): Uint8Array {
  const out = new Uint8Array(4 + value.length)
  new DataView(out.buffer).setUint32(0, value.length)
  out.set(value, 4)
  return out
}

/**
 * @returns the non-negative `value` as an SSH mpint (minimal, with a 0 byte if the top bit
 * is set)
 */
export function encodeSshMpint(value: bigint): Uint8Array {
  let magnitude = bigintToBytes(value)
  if (magnitude.length > 0 && (magnitude[0] ?? 0) >= 0x80) {
    magnitude = concatBytes(Uint8Array.of(0), magnitude)
  }
  return encodeSshString(magnitude)
}

/** @returns the big-endian unsigned integer in `bytes` */
export function bytesToBigint(bytes: Uint8Array): bigint {
  let n = 0n
  for (const b of bytes) n = (n << 8n) | BigInt(b)
  return n
}

/** @returns the minimal big-endian bytes of the non-negative `value` (empty for 0) */
export function bigintToBytes(value: bigint): Uint8Array {
  const out: number[] = []
  for (let n = value; n > 0n; n >>= 8n) out.push(Number(n & 0xffn))
  return Uint8Array.from(out.reverse())
}
