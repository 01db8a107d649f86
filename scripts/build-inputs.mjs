// The digest of what `npm run build` reads (scripts/build.mjs): every file under src/,
// test/, bench/, scripts/ and bin/, the package and lock files, tsconfig.json, and the
// Node version (the bundler writes a V8 code cache, which is Node's own). dist/ is
// current when the digest it was stamped with is the digest of the tree now.
import { createHash } from "node:crypto"
import { existsSync, readFileSync, readdirSync, statSync } from "node:fs"
import { join } from "node:path"

/** Where the build writes the digest of its inputs. */
export const stampPath = "dist/.build-inputs.sha256"

const inputs = [
  "src",
  "test",
  "bench",
  "scripts",
  "bin",
  "package.json",
  "package-lock.json",
  "tsconfig.json",
]

/**
 * @param {string} root the repository's root
 * @returns {string} the SHA-256 of every input's path and content, in order, and Node's version
 */
export function buildInputsDigest(root) {
  const hash = createHash("sha256")
  hash.update(`node ${process.version}\0`)
  const add = (path) => {
    const full = join(root, path)
    if (!existsSync(full)) return
    if (statSync(full).isDirectory()) {
      for (const name of readdirSync(full).sort()) add(join(path, name))
      return
    }
    hash.update(`${path}\0${String(statSync(full).size)}\0`)
    hash.update(readFileSync(full))
  }
  for (const input of inputs) add(input)
  return `${hash.digest("hex")}\n`
}
