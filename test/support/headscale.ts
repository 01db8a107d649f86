/**
 * The loopback tailnet for tests (`src/integrations/tailscale/loopback.ts`: headscale and
 * tailscaled started on loopback and stopped by PID), and a recorder of the `tailscale`
 * client's argv and environment.
 */
import { mkdirSync, readFileSync, writeFileSync } from "node:fs"
import { join } from "node:path"

export {
  startHeadscale,
  startTailscaled,
  type Cleanup,
  type Headscale,
  type HeadscaleNode,
  type Tailscaled,
} from "../../src/integrations/tailscale/loopback.js"

/**
 * A `tailscale` wrapper that records every argv (one JSON line each) and its environment,
 * then runs the real client: to check what coffer passes, and that no key is in it.
 * @returns the wrapper's directory (put it first on PATH, or pass the wrapper with
 *   --tailscale) and readers for what it recorded
 */
export function argvRecorder(
  realTailscale: string,
  dir: string,
): { readonly wrapper: string; calls(): string[][]; environments(): string } {
  const bin = join(dir, "recorder-bin")
  mkdirSync(bin, { recursive: true })
  const callsPath = join(dir, "calls.jsonl")
  const envPath = join(dir, "environments.txt")
  writeFileSync(callsPath, "")
  writeFileSync(envPath, "")
  const wrapper = join(bin, "tailscale")
  writeFileSync(
    wrapper,
    `#!/bin/sh
# test wrapper: record argv and environment, then run the real client
${JSON.stringify(process.execPath)} -e 'require("fs").appendFileSync(process.argv[1], JSON.stringify(process.argv.slice(2)) + "\\n")' ${JSON.stringify(callsPath)} "$@"
env >> ${JSON.stringify(envPath)}
exec ${JSON.stringify(realTailscale)} "$@"
`,
    { mode: 0o755 },
  )
  return {
    wrapper,
    calls: () =>
      readFileSync(callsPath, "utf8")
        .split("\n")
        .filter((l) => l !== "")
        .map((l) => JSON.parse(l) as string[]),
    environments: () => readFileSync(envPath, "utf8"),
  }
}
