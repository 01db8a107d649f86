/**
 * Splits a command line into words the way sops does for `SOPS_AGE_KEY_CMD` and
 * `SOPS_AGE_SSH_PRIVATE_KEY_CMD` (docs/formats/sops.md "age keys and where they are found":
 * "command via shlex"): whitespace separates words, single quotes keep everything
 * literally, double quotes keep everything but `\"`, `\\` and `\$` escapes, a backslash
 * outside quotes escapes the next character, and `#` at the start of a word starts a
 * comment. No variables, globs or pipes: the command runs without a shell.
 */
import { UsageError } from "../internal/errors.js"

/**
 * @param line the command line
 * @param what names the setting, for the error message (`SOPS_AGE_KEY_CMD`)
 * @returns the words (the program first)
 * @throws UsageError on an unterminated quote or a trailing backslash
 */
export function splitShellWords(line: string, what: string): string[] {
  const words: string[] = []
  let word = ""
  let inWord = false
  let i = 0
  while (i < line.length) {
    const c = line.charAt(i)
    if (c === " " || c === "\t" || c === "\n" || c === "\r") {
      if (inWord) words.push(word)
      word = ""
      inWord = false
      i++
    } else if (c === "#" && !inWord) {
      break
    } else if (c === "'") {
      const end = line.indexOf("'", i + 1)
      if (end < 0) throw unterminated(what, "single quote")
      word += line.slice(i + 1, end)
      inWord = true
      i = end + 1
    } else if (c === '"') {
      i++
      for (;;) {
        if (i >= line.length) throw unterminated(what, "double quote")
        const d = line.charAt(i)
        if (d === '"') break
        if (d === "\\" && i + 1 < line.length && '"\\$`\n'.includes(line.charAt(i + 1))) {
          word += line.charAt(i + 1)
          i += 2
        } else {
          word += d
          i++
        }
      }
      inWord = true
      i++
    } else if (c === "\\") {
      if (i + 1 >= line.length) throw unterminated(what, "backslash escape")
      word += line.charAt(i + 1)
      inWord = true
      i += 2
    } else {
      word += c
      inWord = true
      i++
    }
  }
  if (inWord) words.push(word)
  return words
}

function unterminated(what: string, thing: string): UsageError {
  return new UsageError(`${what}: unterminated ${thing} in the command`, {
    hints: ["the command is split like a shell would, but runs without one"],
  })
}
