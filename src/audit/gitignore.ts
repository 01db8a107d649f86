/**
 * `.gitignore` patterns, for walking a directory that is not a git repository
 * (docs/audit.md "What is read"; the rules are git's, https://git-scm.com/docs/gitignore):
 * blank lines and `#` comments are skipped, a trailing unescaped space is dropped, `!`
 * re-includes, a trailing `/` matches directories only, a `/` at the start or in the middle
 * anchors the pattern to the `.gitignore`'s directory (otherwise it matches at any depth),
 * `*` and `?` do not cross `/`, `**` does, `[…]` is a class. As in git, a file inside an
 * ignored directory cannot be re-included (the walk does not enter the directory). Pure.
 */

/** One compiled pattern. */
interface IgnoreRule {
  readonly regex: RegExp
  readonly negated: boolean
  readonly directoryOnly: boolean
}

/** The patterns of one `.gitignore`, relative to its directory. */
export interface IgnoreFile {
  /** The directory holding the file, relative to the walk's root (`""` for the root). */
  readonly base: string
  readonly rules: readonly IgnoreRule[]
}

function globToRegex(glob: string): string {
  let out = ""
  for (let i = 0; i < glob.length; i++) {
    const c = glob.charAt(i)
    if (c === "*") {
      if (glob.charAt(i + 1) === "*") {
        const before = i === 0 || glob.charAt(i - 1) === "/"
        const after = glob.charAt(i + 2) === "/" || i + 2 === glob.length
        if (before && after) {
          // "**/" any leading directories, "/**" everything inside
          if (glob.charAt(i + 2) === "/") {
            out += "(?:.*/)?"
            i += 2
          } else {
            out += ".*"
            i += 1
          }
          continue
        }
      }
      out += "[^/]*"
    } else if (c === "?") out += "[^/]"
    else if (c === "[") {
      const end = glob.indexOf("]", i + 2)
      if (end === -1) out += "\\["
      else {
        let body = glob.slice(i + 1, end)
        if (body.startsWith("!")) body = `^${body.slice(1)}`
        out += `[${body.replace(/\\/g, "\\\\")}]`
        i = end
      }
    } else if (c === "\\" && i + 1 < glob.length) {
      out += glob.charAt(i + 1).replace(/[\\^$.*+?()[\]{}|/-]/g, "\\$&")
      i += 1
    } else out += c.replace(/[\\^$.*+?()[\]{}|/-]/g, "\\$&")
  }
  return out
}

/**
 * Parses a `.gitignore`.
 * @param text its content
 * @param base its directory relative to the walk's root (`""`, `a/b`)
 * @returns the compiled patterns
 */
export function parseGitignore(text: string, base: string): IgnoreFile {
  const rules: IgnoreRule[] = []
  for (let line of text.split(/\r?\n/)) {
    if (line === "" || line.startsWith("#")) continue
    line = line.replace(/(?<!\\) +$/, "")
    if (line === "") continue
    let negated = false
    if (line.startsWith("!")) {
      negated = true
      line = line.slice(1)
    } else if (line.startsWith("\\!") || line.startsWith("\\#")) line = line.slice(1)
    let directoryOnly = false
    if (line.endsWith("/")) {
      directoryOnly = true
      line = line.slice(0, -1)
    }
    const anchored = line.includes("/")
    if (line.startsWith("/")) line = line.slice(1)
    const body = globToRegex(line)
    rules.push({
      regex: new RegExp(anchored ? `^${body}$` : `^(?:.*/)?${body}$`),
      negated,
      directoryOnly,
    })
  }
  return { base, rules }
}

/**
 * Whether a path is ignored by the `.gitignore` files that apply to it (the last matching
 * pattern wins; deeper files are consulted after shallower ones).
 * @param path relative to the walk's root, `/`-separated
 * @param isDirectory whether it is a directory
 * @param files the `.gitignore` files of its ancestors, root first
 * @returns true when ignored
 */
export function isIgnored(
  path: string,
  isDirectory: boolean,
  files: readonly IgnoreFile[],
): boolean {
  let ignored = false
  for (const file of files) {
    if (file.base !== "" && !path.startsWith(`${file.base}/`)) continue
    const relative = file.base === "" ? path : path.slice(file.base.length + 1)
    for (const rule of file.rules) {
      if (rule.directoryOnly && !isDirectory) continue
      if (rule.regex.test(relative)) ignored = !rule.negated
    }
  }
  return ignored
}
