// Shamir secret sharing in sops's share format (docs/formats/sops.md "Key groups and
// Shamir"), checked against an independent log/exp-table GF(2^8) implementation written here.
import { test } from "node:test"
import assert from "node:assert/strict"
import { randomBytes } from "node:crypto"
import fc from "fast-check"
import { combineShares, splitSecret } from "./shamir.js"
import { ShamirError } from "./errors.js"

// Reference GF(2^8) with the AES polynomial, via log/exp tables over the generator 3.
const EXP = new Uint8Array(510)
const LOG = new Uint8Array(256)
{
  let x = 1
  for (let i = 0; i < 255; i++) {
    EXP[i] = x
    LOG[x] = i
    // x * 3 = x * 2 ^ x
    const doubled = (x << 1) ^ (x & 0x80 ? 0x11b : 0)
    x = doubled ^ x
  }
  for (let i = 255; i < 510; i++) EXP[i] = EXP[i - 255] ?? 0
}
function refMul(a: number, b: number): number {
  if (a === 0 || b === 0) return 0
  return EXP[(LOG[a] ?? 0) + (LOG[b] ?? 0)] ?? 0
}
function refDiv(a: number, b: number): number {
  if (a === 0) return 0
  return EXP[((LOG[a] ?? 0) - (LOG[b] ?? 0) + 255) % 255] ?? 0
}
function refCombine(shares: readonly Uint8Array[]): Uint8Array {
  const len = (shares[0]?.length ?? 1) - 1
  const xs = shares.map((s) => s[len] ?? 0)
  const out = new Uint8Array(len)
  for (let b = 0; b < len; b++) {
    let acc = 0
    shares.forEach((s, i) => {
      let basis = 1
      xs.forEach((xj, j) => {
        if (i !== j) basis = refMul(basis, refDiv(xj, (xs[i] ?? 0) ^ xj))
      })
      acc ^= refMul(s[b] ?? 0, basis)
    })
    out[b] = acc
  }
  return out
}

const secret = new Uint8Array(randomBytes(32))

test("2-of-3: shares are 33 bytes with x = 1, 2, 3 and any two recover the secret", () => {
  const shares = splitSecret(secret, 3, 2)
  assert.equal(shares.length, 3)
  shares.forEach((s, i) => {
    assert.equal(s.length, 33)
    assert.equal(s[32], i + 1)
  })
  const [a, b, c] = shares as [Uint8Array, Uint8Array, Uint8Array]
  for (const pair of [
    [a, b],
    [a, c],
    [b, c],
    [c, a],
  ]) {
    assert.deepEqual(combineShares(pair), secret)
    assert.deepEqual(refCombine(pair), secret)
  }
  assert.deepEqual(combineShares([a, b, c]), secret)
})

test("3-of-3: all three recover the secret, two do not", () => {
  const shares = splitSecret(secret, 3, 3)
  assert.deepEqual(combineShares(shares), secret)
  assert.notDeepEqual(combineShares(shares.slice(0, 2)), secret)
  assert.notDeepEqual(combineShares(shares.slice(1)), secret)
})

test("a fixed entropy makes a known split (constant term = secret byte, degree 1)", () => {
  // with coefficient 5 for every byte, share at x is s ^ (5 * x)
  const shares = splitSecret(new Uint8Array([0x00, 0xff, 0x53]), 2, 2, (n) =>
    new Uint8Array(n).fill(5),
  )
  assert.deepEqual([...(shares[0] ?? [])], [0x00 ^ 5, 0xff ^ 5, 0x53 ^ 5, 1])
  assert.deepEqual([...(shares[1] ?? [])], [0x00 ^ 10, 0xff ^ 10, 0x53 ^ 10, 2])
})

test("shares with arbitrary x coordinates (older sops drew them at random) combine", () => {
  // degree-1 polynomial s + 7x evaluated at x = 200 and x = 13
  const s = 0x42
  const make = (x: number): Uint8Array => new Uint8Array([s ^ refMul(7, x), x])
  assert.deepEqual([...combineShares([make(200), make(13)])], [s])
})

test("invalid parameters and shares are ShamirErrors", () => {
  assert.throws(() => splitSecret(secret, 2, 3), ShamirError)
  assert.throws(() => splitSecret(secret, 3, 1), ShamirError)
  assert.throws(() => splitSecret(secret, 256, 2), ShamirError)
  assert.throws(() => splitSecret(new Uint8Array(0), 3, 2), ShamirError)
  const shares = splitSecret(secret, 3, 2)
  const [a, b] = shares as [Uint8Array, Uint8Array]
  assert.throws(() => combineShares([a]), ShamirError)
  assert.throws(() => combineShares([a, a]), /appears twice/)
  assert.throws(() => combineShares([a, b.subarray(1)]), /different lengths/)
  const zeroX = new Uint8Array(a)
  zeroX[32] = 0
  assert.throws(() => combineShares([zeroX, b]), ShamirError)
})

test("property: any threshold-sized subset of split(secret) recovers the secret", () => {
  fc.assert(
    fc.property(
      fc.uint8Array({ minLength: 1, maxLength: 40 }),
      fc.integer({ min: 2, max: 8 }),
      fc.integer({ min: 0, max: 6 }),
      fc.infiniteStream(fc.nat()),
      (s, threshold, extra, picks) => {
        const parts = threshold + extra
        const shares = splitSecret(s, parts, threshold)
        // pick a random subset of size threshold (and sometimes more)
        const pool = shares.map((_, i) => i)
        const chosen: Uint8Array[] = []
        const it = picks[Symbol.iterator]()
        const want = threshold + ((it.next().value ?? 0) % (extra + 1))
        while (chosen.length < want) {
          const k = (it.next().value ?? 0) % pool.length
          const [index] = pool.splice(k, 1)
          chosen.push(shares[index ?? 0] ?? new Uint8Array())
        }
        assert.deepEqual(combineShares(chosen), s)
        assert.deepEqual(refCombine(chosen), s)
      },
    ),
    { numRuns: 200 },
  )
})
