/**
 * Randomness and time as values passed into the pure core (docs/conventions.md "Pure core,
 * effects at the edges"): the core takes an `Entropy`/`Clock` argument with these defaults,
 * and tests pass fixed ones.
 */
import { randomBytes } from "node:crypto"

/** Returns `length` fresh random bytes. */
export type Entropy = (length: number) => Uint8Array

/** Returns the current time. */
export type Clock = () => Date

/** The operating system's CSPRNG (through OpenSSL). */
export const systemEntropy: Entropy = (length) => new Uint8Array(randomBytes(length))

/** The wall clock. */
export const systemClock: Clock = () => new Date()
