/**
 * The pre-commit hook coffer installs (docs/audit.md "Pre-commit hook"): a small `sh`
 * script that runs `coffer audit --staged`, so a commit holding plaintext is refused. A
 * marker line tells coffer's hook from anyone else's: coffer replaces or removes only its
 * own. Pure: text in, text out.
 */

/** The line that marks a hook as coffer's. */
export const HOOK_MARKER = "# coffer pre-commit hook"

/** Quotes a word for `sh`. */
function shellWord(text: string): string {
  return /^[A-Za-z0-9_./@%+=:,-]+$/.test(text) ? text : `'${text.replace(/'/g, `'\\''`)}'`
}

/**
 * The hook script.
 * @param command how to run coffer (`coffer`, or an absolute path to `bin/coffer`)
 * @returns the script's text
 */
export function hookScript(command: string): string {
  return `#!/bin/sh
${HOOK_MARKER}: refuses commits that hold plaintext secrets.
# Installed by "coffer hook install"; "coffer hook uninstall" removes it.
# To commit anyway, once: git commit --no-verify
exec ${shellWord(command)} audit --staged
`
}

/** What installing over an existing file means. */
export type HookDecision = "create" | "unchanged" | "update" | "foreign"

/**
 * @param existing the current hook's text, or undefined when there is none
 * @param wanted the script coffer would write
 * @returns whether to create it, leave it, update coffer's older hook, or refuse (someone else's)
 */
export function decideHookInstall(existing: string | undefined, wanted: string): HookDecision {
  if (existing === undefined) return "create"
  if (existing === wanted) return "unchanged"
  return existing.includes(HOOK_MARKER) ? "update" : "foreign"
}
