/**
 * The real reference tools built from pinned Go modules by `scripts/peers.sh` (`npm run
 * peers`) into `.peers/bin`: sops, age 1.3 (age, age-keygen, age-plugin-batchpass,
 * age-inspect, and age's test plugin age-plugin-tagtest), ssh-to-age, tailscale, tailscaled, headscale and the AWS KMS emulator
 * local-kms. Under CI (`CI=true`) a
 * missing peer fails the test; elsewhere the test is skipped, saying how to build it.
 *
 * `COFFER_PEERS_DIR` points at another folder of binaries (a shared build, say).
 */
import { accessSync, constants, readFileSync } from "node:fs"
import { join } from "node:path"
import type { TestContext } from "node:test"
import { repoRoot } from "./cli.js"
import { underCi } from "./tools.js"

/** Every peer `scripts/peers.sh` builds. */
export type PeerName =
  | "sops"
  | "age"
  | "age-keygen"
  | "age-plugin-batchpass"
  | "age-inspect"
  | "age-plugin-tagtest"
  | "ssh-to-age"
  | "tailscale"
  | "tailscaled"
  | "headscale"
  | "local-kms"

/** The folder holding the peers' binaries. */
export function peersDir(): string {
  return process.env["COFFER_PEERS_DIR"] ?? join(repoRoot, ".peers", "bin")
}

/** @returns the peer's path, or null when it has not been built */
export function peerPath(name: PeerName): string | null {
  const path = join(peersDir(), name)
  try {
    accessSync(path, constants.X_OK)
    return path
  } catch {
    return null
  }
}

/**
 * The pinned version a peer was built at (from `.peers/stamps`), for messages.
 * @returns the version, or null when unknown
 */
export function peerVersion(name: PeerName): string | null {
  const group =
    name === "age-plugin-tagtest"
      ? "age-tagtest"
      : name.startsWith("age")
        ? "age"
        : name === "tailscaled"
          ? "tailscale"
          : name
  try {
    return readFileSync(join(peersDir(), "..", "stamps", group), "utf8").split(" ")[0] ?? null
  } catch {
    return null
  }
}

/**
 * Skips the test (outside CI) or throws (under CI) when a peer has not been built.
 * @returns the peer's path when it is there, null when the test was skipped
 */
export function requirePeer(t: TestContext, name: PeerName): string | null {
  const path = peerPath(name)
  if (path !== null) return path
  const message = `${name} not built: run npm run peers (scripts/peers.sh builds it with Go into .peers/bin)`
  if (underCi) throw new Error(message)
  t.skip(message)
  return null
}
