/**
 * The top-level help and version of `coffer` (docs/goals.md "Capabilities": help with
 * examples). Each command's own help lives in its module under `commands/`.
 */

/** coffer's version (kept equal to package.json's by test/cli/help.test.ts). */
export const cofferVersion = "0.1.0"

/** What `coffer --version` (and `coffer COMMAND --version`) prints. */
export function versionLine(): string {
  return `coffer ${cofferVersion}\n`
}

/** A command as listed by `coffer --help`. */
export interface CommandSummary {
  readonly name: string
  readonly summary: string
}

/**
 * The text of `coffer --help`.
 * @param commands the dispatcher's table, in display order
 */
export function topLevelHelp(commands: readonly CommandSummary[]): string {
  const width = Math.max(...commands.map((c) => c.name.length)) + 2
  return `coffer ${cofferVersion}: secrets in git, delivered to machines (age and sops compatible)

Usage:
    coffer COMMAND [FLAGS] [ARGS]
    coffer COMMAND --help        help and examples for one command
    coffer --version

Commands:
${commands.map((c) => `    ${c.name.padEnd(width)}${c.summary}`).join("\n")}

Examples:
    $ coffer age-keygen -o key.txt
    Public key: age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p
    $ coffer age -r age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p -o secret.age secret.txt
    $ coffer age -d -i key.txt secret.age
    $ coffer ssh-to-age < /etc/ssh/ssh_host_ed25519_key.pub

coffer-age and coffer-age-keygen are the same as "coffer age" and "coffer age-keygen",
for tools that expect an "age" binary (agenix's ageBin, for example). Each command's help
is also its man page: man coffer-COMMAND (from a clone: man -l dist/man/coffer-decrypt.1).

Exit status:
    0     success
    1     a failure to act on: no key fits, a damaged file, an I/O error
    2     bad usage: an unknown command or flag, a missing argument
    3     edit: nothing changed, so nothing was written
    4-8   tailscale up: its own outcomes (coffer tailscale --help)
    70    a bug in coffer: please report it
    130   interrupted (Ctrl-C at a prompt, SIGINT)

exec-env and exec-file exit with their command's status.
`
}
