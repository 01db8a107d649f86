/**
 * Shamir secret sharing over GF(2^8), in the share format sops uses for key groups
 * (docs/formats/sops.md "Key groups and Shamir"): the field is GF(2^8) with the AES
 * polynomial x^8+x^4+x^3+x+1, every secret byte gets its own random polynomial of degree
 * `threshold - 1` whose constant term is that byte, and a share is the polynomial values
 * for every byte followed by one trailing byte holding x. Share i (0-based) is evaluated at
 * x = i + 1. Readers take x from the last byte, so shares written by sops versions that
 * drew random x coordinates combine too.
 *
 * The field arithmetic is branch-free on secret data (no log/exp tables, no early exits):
 * shares are secret, and table lookups indexed by secret bytes leak through the cache.
 */
import type { Entropy } from "../internal/entropy.js"
import { systemEntropy } from "../internal/entropy.js"
import { ShamirError } from "./errors.js"

/** Multiplies in GF(2^8) modulo x^8+x^4+x^3+x+1, in constant time. */
function multiply(a: number, b: number): number {
  let product = 0
  let x = a
  let y = b
  for (let i = 0; i < 8; i++) {
    // add x when the low bit of y is set, without branching on y
    product ^= -(y & 1) & x
    y >>= 1
    // multiply x by the generator, reducing by 0x1B when the top bit falls out
    const carry = -((x >> 7) & 1) & 0x1b
    x = ((x << 1) & 0xff) ^ carry
  }
  return product & 0xff
}

/** The multiplicative inverse in GF(2^8) (a^254; 0 maps to 0), in constant time. */
function inverse(a: number): number {
  // a^254 by square-and-multiply with a fixed sequence: 254 = 0b11111110
  let result = 1
  let power = a
  for (let bit = 0; bit < 8; bit++) {
    const square = multiply(power, power)
    // bit 0 of 254 is clear, bits 1..7 are set
    if (bit > 0) result = multiply(result, power)
    power = square
  }
  return result
}

/** Evaluates the polynomial with `coefficients` (constant term first) at `x` (Horner). */
function evaluate(coefficients: Uint8Array, x: number): number {
  let out = 0
  for (let i = coefficients.length - 1; i >= 0; i--) {
    out = multiply(out, x) ^ (coefficients[i] ?? 0)
  }
  return out
}

/**
 * Splits `secret` into `parts` shares, any `threshold` of which recover it.
 * @param secret the bytes to share (the 32-byte data key), at least one byte
 * @param parts how many shares (one per key group), 2..255
 * @param threshold how many shares are needed, 2..parts
 * @param entropy random bytes for the polynomial coefficients
 * @returns `parts` shares of `secret.length + 1` bytes: y values, then x = index + 1
 * @throws ShamirError when the parameters are out of range
 */
export function splitSecret(
  secret: Uint8Array,
  parts: number,
  threshold: number,
  entropy: Entropy = systemEntropy,
): Uint8Array[] {
  if (!Number.isInteger(parts) || !Number.isInteger(threshold)) {
    throw new ShamirError("shamir parts and threshold must be whole numbers")
  }
  if (parts < threshold) {
    throw new ShamirError(
      `shamir threshold ${String(threshold)} is more than the ${String(parts)} key groups`,
      {
        hints: ["lower shamir_threshold or add key groups"],
      },
    )
  }
  if (parts > 255)
    throw new ShamirError(`shamir cannot split into ${String(parts)} parts (at most 255)`)
  if (threshold < 2) throw new ShamirError(`shamir threshold ${String(threshold)} is less than 2`)
  if (secret.length === 0) throw new ShamirError("shamir cannot split an empty secret")

  const shares: Uint8Array[] = []
  for (let i = 0; i < parts; i++) {
    const share = new Uint8Array(secret.length + 1)
    share[secret.length] = i + 1
    shares.push(share)
  }
  const coefficients = new Uint8Array(threshold)
  for (let byteIndex = 0; byteIndex < secret.length; byteIndex++) {
    coefficients[0] = secret[byteIndex] ?? 0
    const random = entropy(threshold - 1)
    if (random.length !== threshold - 1)
      throw new ShamirError("entropy source returned too few bytes")
    coefficients.set(random, 1)
    random.fill(0)
    for (let i = 0; i < parts; i++) {
      const share = shares[i]
      if (share !== undefined) share[byteIndex] = evaluate(coefficients, i + 1)
    }
  }
  coefficients.fill(0)
  return shares
}

/**
 * Recovers the secret from shares made by `splitSecret` (or by sops): Lagrange
 * interpolation at x = 0 for every byte position, x read from each share's last byte.
 * Given at least the threshold number of shares this is the secret; given fewer it is an
 * unrelated value, which is why callers count shares against the file's threshold first.
 * @param shares at least two shares of equal length, with distinct x bytes
 * @returns the secret
 * @throws ShamirError on fewer than two shares, unequal lengths, or a repeated or zero x
 */
export function combineShares(shares: readonly Uint8Array[]): Uint8Array {
  if (shares.length < 2)
    throw new ShamirError("shamir needs at least two shares to recover the data key")
  const first = shares[0]
  if (first === undefined || first.length < 2)
    throw new ShamirError("shamir shares must be at least two bytes")
  const length = first.length
  const xs: number[] = []
  for (const share of shares) {
    if (share.length !== length) throw new ShamirError("shamir shares have different lengths")
    const x = share[length - 1] ?? 0
    if (x === 0) throw new ShamirError("shamir share has x coordinate 0")
    if (xs.includes(x))
      throw new ShamirError(`shamir share x coordinate ${String(x)} appears twice`)
    xs.push(x)
  }
  // the Lagrange basis at 0 depends only on the (public) x coordinates
  const basis = xs.map((xi, i) => {
    let value = 1
    xs.forEach((xj, j) => {
      if (i !== j) value = multiply(value, multiply(xj, inverse(xi ^ xj)))
    })
    return value
  })
  const secret = new Uint8Array(length - 1)
  for (let byteIndex = 0; byteIndex < secret.length; byteIndex++) {
    let value = 0
    shares.forEach((share, i) => {
      value ^= multiply(share[byteIndex] ?? 0, basis[i] ?? 0)
    })
    secret[byteIndex] = value
  }
  return secret
}
