/**
 * Types for the npm package `bcrypt-pbkdf` (OpenBSD's bcrypt_pbkdf, the KDF of encrypted
 * OpenSSH private keys), which ships none. Used by ssh-private-key.ts.
 */
declare module "bcrypt-pbkdf" {
  interface BcryptPbkdf {
    /** Fills `key[0..keylen)`; returns 0 on success and -1 on invalid arguments. */
    pbkdf(
      pass: Uint8Array,
      passlen: number,
      salt: Uint8Array,
      saltlen: number,
      key: Uint8Array,
      keylen: number,
      rounds: number,
    ): number
  }
  const bcryptPbkdf: BcryptPbkdf
  export default bcryptPbkdf
}
