/**
 * The real `WorkflowIo`: `node:fs`, atomic replacement (`system/replace-file.ts`), private
 * RAM directories (`system/private-temp.ts`), prompts on the controlling terminal
 * (`system/terminal.ts`), age identity discovery as sops does it (`keys/discover.ts`), the
 * `gpg` binary (`keys/pgp.ts`) and the clouds' SDKs, loaded when first used (`cloud/port.ts`).
 */
import { existsSync, lstatSync, readdirSync, type Dirent, type Stats } from "node:fs"
import { readFile } from "node:fs/promises"
import { systemDiscoveryIo, type DiscoveryIo } from "../keys/discover.js"
import { createGpgPort, gpgOptionsFromEnv } from "../keys/pgp.js"
import { createCloudKeyPort } from "../cloud/port.js"
import type { CloudKeyPort } from "../sops/cloud-keys.js"
import { createPrivateTempDir } from "../system/private-temp.js"
import { replaceFile } from "../system/replace-file.js"
import { confirm, readSecret } from "../system/terminal.js"
import type { FileKind, WorkflowIo } from "./io.js"

/** What the real effects are configured with. */
export interface SystemIoOptions {
  /** The environment (default `process.env`). */
  readonly env?: NodeJS.ProcessEnv
  /** The working directory (default `process.cwd()`). */
  readonly cwd?: string
  /** Receives warnings (default: none are shown). */
  readonly warn?: (message: string) => void
  /**
   * Whether a person may be asked for passphrases and confirmations at the terminal
   * (default true). When false, `readSecret` and `confirm` reject, and discovery reports
   * keys that need a passphrase as failed.
   */
  readonly prompts?: boolean
}

/**
 * The effects of this machine.
 * @param options the environment, working directory, warning sink and whether to prompt
 * @returns the io
 */
export function systemWorkflowIo(options: SystemIoOptions = {}): WorkflowIo {
  const env = options.env ?? process.env
  const warn = options.warn ?? ((): void => undefined)
  const prompts = options.prompts ?? true
  const noPrompt = (): Promise<never> =>
    Promise.reject(new Error("this workflow was started without a terminal to ask on"))
  const askPassphrase = (what: string): Promise<string> =>
    readSecret(`Enter passphrase for ${what}:`)
  let cloud: CloudKeyPort | undefined
  return {
    env,
    cwd: options.cwd ?? process.cwd(),
    readFile: async (path) => {
      const buffer = await readFile(path)
      return new Uint8Array(buffer.buffer, buffer.byteOffset, buffer.byteLength)
    },
    exists: existsSync,
    fileKind: (path) => {
      const stats = lstatSync(path)
      return { kind: kindOf(stats), size: stats.size }
    },
    listDirectory: (path) =>
      readdirSync(path, { withFileTypes: true }).map((entry) => ({
        name: entry.name,
        kind: kindOf(entry),
      })),
    replaceFile,
    createPrivateTempDir: () => createPrivateTempDir(env, warn),
    readSecret: prompts ? readSecret : noPrompt,
    confirm: prompts ? confirm : noPrompt,
    warn,
    discovery: (): DiscoveryIo => ({
      ...systemDiscoveryIo(prompts ? askPassphrase : undefined),
      env,
    }),
    gpg: () => createGpgPort(gpgOptionsFromEnv(env)),
    cloud: () => (cloud ??= createCloudKeyPort({ env })),
  }
}

function kindOf(entry: Dirent | Stats): FileKind["kind"] {
  return entry.isFile() ? "file" : entry.isDirectory() ? "directory" : "other"
}
