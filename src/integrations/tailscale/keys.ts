/**
 * Where a join's auth key comes from (docs/tailscale.md "Keys"): a file the client reads
 * itself (an auth key, a headscale pre-auth key, or a `tskey-client-…` secret the client
 * exchanges), or an OAuth client secret coffer exchanges for a fresh single-use key, which
 * lives only in a 0600 file of a private RAM directory removed right after the join.
 *
 * A key source is asked for its key only when the node must log in, so a host that is
 * already joined never reads the key nor mints one.
 */
import { readFile } from "node:fs/promises"
import { KeySourceError } from "./errors.js"
import { mintAuthKey, revokeAuthKey, type Fetch } from "./oauth.js"

/** A key ready for `--auth-key=file:PATH`. */
export interface AuthKeyFile {
  /** The file the client reads. */
  readonly path: string
  /** How messages name it: `file "/run/secrets/tailscale_authkey"`. */
  readonly origin: string
  /** The texts to scrub from anything printed (the key, a client secret). */
  readonly secrets: readonly string[]
  /** Whether the key itself carries the declared tags (a key coffer minted with them). */
  readonly carriesTags: boolean
  /**
   * Removes what was created for it (a minted key's file; the user's file stays) and, when
   * the join failed, revokes a key coffer minted so it can join nothing later.
   * @param joined whether the node joined with the key (a used single-use key is spent)
   */
  dispose(joined: boolean): Promise<void>
}

/** Gives the key for a login. */
export interface KeySource {
  /** For messages before the key is read. */
  readonly origin: string
  /**
   * @param signal aborted at the overall deadline
   * @throws KeySourceError, OAuthError
   */
  obtain(signal: AbortSignal): Promise<AuthKeyFile>
}

/** Writes a secret to a private file and removes it (the CLI gives a RAM directory). */
export interface PrivateFileWriter {
  /**
   * @returns the file's path (mode 0600) and how to remove it
   */
  write(name: string, content: string): Promise<{ readonly path: string; remove(): void }>
}

const maxKeyFileSize = 16 * 1024

async function readSecretFile(path: string, what: string): Promise<string> {
  let text: string
  try {
    const bytes = await readFile(path)
    if (bytes.length > maxKeyFileSize) {
      throw new KeySourceError(`${what} ${JSON.stringify(path)} is larger than a key can be`)
    }
    text = bytes.toString("utf8")
  } catch (cause) {
    if (cause instanceof KeySourceError) throw cause
    const code = (cause as NodeJS.ErrnoException).code ?? String(cause)
    throw new KeySourceError(`can't read the ${what} ${JSON.stringify(path)}: ${code}`, {
      hints: [
        code === "ENOENT"
          ? "the secret is not installed: run coffer install (or check the secret's path)"
          : "run as root, or as the user the secret belongs to",
      ],
      cause,
    })
  }
  // spec: the client trims whitespace around a key read with file: (up.go resolveValueFromFile)
  const trimmed = text.trim()
  if (trimmed === "") {
    throw new KeySourceError(`the ${what} ${JSON.stringify(path)} is empty`, {
      hints: ["put the key in the secret and run coffer install again"],
    })
  }
  return trimmed
}

/**
 * A key in a file, read by the client (`--auth-key=file:PATH`). coffer reads it too, to
 * fail early on a missing or empty file and to scrub it from messages.
 * @param tags the declared tags (a `tskey-client-` secret needs them)
 * @param warn told about a `tskey-client-` secret whose key would be ephemeral
 */
export function fileKeySource(
  path: string,
  tags: readonly string[],
  warn: (message: string) => void,
): KeySource {
  const origin = `file ${JSON.stringify(path)}`
  return {
    origin,
    obtain: async () => {
      const key = await readSecretFile(path, "auth key file")
      if (key.startsWith("tskey-client-")) {
        if (tags.length === 0) {
          throw new KeySourceError(
            `${origin} holds an OAuth client secret, which needs --advertise-tags`,
            { hints: ["keys minted from an OAuth client are always tagged: declare the tags"] },
          )
        }
        // spec: the client mints an ephemeral key unless told otherwise (oauthkey.go)
        if (!/[?&]ephemeral=/.test(key)) {
          warn(
            `${origin} holds an OAuth client secret without "?ephemeral=false": the client mints an ephemeral key, and the node disappears some time after it goes offline (use --oauth-client-secret-file, or end the secret with ?ephemeral=false&preauthorized=true)`,
          )
        }
      }
      return {
        path,
        origin,
        secrets: [key.split("?")[0] ?? key],
        carriesTags: false,
        dispose: () => Promise.resolve(),
      }
    },
  }
}

/** The OAuth side of a join. */
export interface OAuthSettings {
  readonly secretFile: string
  readonly apiUrl: string
  readonly tailnet: string
  readonly tags: readonly string[]
  /** The key's lifetime: it is used within the join's timeout. */
  readonly expirySeconds: number
  readonly description: string
}

/** What the OAuth key source needs from outside. */
export interface OAuthKeyDeps {
  readonly writer: PrivateFileWriter
  readonly fetch?: Fetch
  /** Told that an unused minted key was revoked. */
  readonly log: (line: string) => void
  /** Told that an unused minted key could not be revoked (it still expires by itself). */
  readonly warn: (message: string) => void
  /** How long revoking may take (default 10 s): a failed join should not hang on it. */
  readonly revokeTimeoutMs?: number
}

/**
 * A fresh single-use, pre-authorized, tagged key minted with an OAuth client secret for
 * each login, written to a private 0600 file that `dispose` removes. When the join fails,
 * `dispose` also revokes the key: an unused pre-approved key must not outlive the run.
 */
export function oauthKeySource(settings: OAuthSettings, deps: OAuthKeyDeps): KeySource {
  const origin = `an OAuth client (secret ${JSON.stringify(settings.secretFile)})`
  return {
    origin,
    obtain: async (signal) => {
      const secret = await readSecretFile(settings.secretFile, "OAuth client secret file")
      const minted = await mintAuthKey(
        {
          apiUrl: settings.apiUrl,
          tailnet: settings.tailnet,
          clientSecret: secret,
          tags: settings.tags,
          expirySeconds: settings.expirySeconds,
          description: settings.description,
          signal,
        },
        deps.fetch,
      )
      const file = await deps.writer.write("authkey", `${minted.key}\n`)
      return {
        path: file.path,
        origin: `a key minted by ${origin}`,
        secrets: [secret, minted.key],
        carriesTags: true,
        dispose: async (joined) => {
          file.remove()
          if (joined) return
          const name = JSON.stringify(minted.id)
          // a timer of our own (AbortSignal.timeout's does not keep the process alive)
          const abort = new AbortController()
          const timer = setTimeout(() => {
            abort.abort(new DOMException("no answer in time", "TimeoutError"))
          }, deps.revokeTimeoutMs ?? 10_000)
          try {
            await revokeAuthKey(
              {
                apiUrl: settings.apiUrl,
                tailnet: settings.tailnet,
                id: minted.id,
                accessToken: minted.accessToken,
                signal: abort.signal,
              },
              deps.fetch,
            )
            deps.log(`revoked the unused minted key ${name} (the join failed)`)
          } catch (cause) {
            const reason =
              cause instanceof Error && cause.name !== "TimeoutError"
                ? cause.message
                : "no answer in time"
            const expiry = minted.expires === null ? "" : ` at ${minted.expires}`
            deps.warn(
              `the unused minted key ${name} was not revoked: ${reason}; it expires by itself${expiry}`,
            )
          } finally {
            clearTimeout(timer)
          }
        },
      }
    },
  }
}
