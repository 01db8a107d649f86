/**
 * Naming a file-system failure in a message (docs/conventions.md "Errors": say what went
 * wrong): the errno codes people meet in practice get plain words, anything else keeps
 * Node's message.
 */

/**
 * Describes a file-system error for a message: `no such file or directory` and so on.
 * @param err what a `node:fs` call threw
 * @returns a few lowercase words, without the path (the caller quotes it)
 */
export function describeSystemError(err: unknown): string {
  const code = (err as NodeJS.ErrnoException | undefined)?.code
  switch (code) {
    case "ENOENT":
      return "no such file or directory"
    case "EACCES":
    case "EPERM":
      return "permission denied"
    case "EISDIR":
      return "is a directory"
    case "EEXIST":
      return "already exists"
    case "ENOTDIR":
      return "a parent is not a directory"
    case "ENOSPC":
      return "no space left on device"
    default:
      return err instanceof Error ? err.message : String(err)
  }
}
