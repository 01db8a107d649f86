/**
 * `coffer agenix`: the agenix command line (docs/agenix.md "The agenix command line") over
 * coffer's age engine.
 *
 * - `-e FILE` edits (or creates) a secret with `$EDITOR` in a private RAM-backed directory
 *   (`system/editor.ts`, `system/private-temp.ts`); with standard input not a terminal, the
 *   new plaintext is read from it (agenix's `cp /dev/stdin`), or pass `--editor CMD`
 *   (`--editor -` = standard input, as ragenix). An unchanged plaintext is not re-encrypted.
 * - `-r` re-encrypts every file of the rules to its current recipients, reporting each and
 *   carrying on past files it can't decrypt (agenix stops half way, issue #143). Files
 *   whose header already has exactly the rule's recipients are left alone (`agenix/rekey.ts`
 *   explains how that is known without a record); `--force` rekeys them anyway.
 * - `-d FILE` prints the plaintext.
 * - `-i KEY` (repeatable) names identities; without it `~/.ssh/id_rsa` and
 *   `~/.ssh/id_ed25519` are used when they exist.
 * Rules come from `--rules`, `RULES` or `./secrets.nix` (`agenix/rules.ts`).
 */
import { existsSync, readFileSync } from "node:fs"
import { readFile } from "node:fs/promises"
import { homedir } from "node:os"
import { join, relative, resolve } from "node:path"
import type { CliContext } from "../command.js"
import type { EditorCommand } from "../../system/editor.js"
import {
  chooseEditor,
  plaintextPath,
  readPlaintextFile,
  runEditor,
  shellEditor,
  writePlaintextFile,
} from "../../system/editor.js"
import { exitCodes, type ExitCode } from "../exit-codes.js"
import { readSmallFile } from "../files.js"
import { describeSystemError } from "../../system/system-error.js"
import { flagIsSet, flagValue, flagValues, type FlagSpec } from "../flags.js"
import { createPrivateTempDir } from "../../system/private-temp.js"
import { replaceFile } from "../../system/replace-file.js"
import { parseCommandLine } from "../sops-file.js"
import { readSecret } from "../../system/terminal.js"
import { NoIdentityMatchError, RecipientParseError } from "../../age/errors.js"
import { KEY_FILE_SIZE_LIMIT, parseIdentityFile } from "../../age/keyfile.js"
import type { Identity } from "../../age/recipient.js"
import { AgenixRulesError } from "../../agenix/errors.js"
import { checkAgainstRule, encryptToRule } from "../../agenix/rekey.js"
import type { AgenixRule, AgenixRules } from "../../agenix/rules.js"
import { chooseRulesFile, findAgenixRule, loadAgenixRules } from "../../agenix/rules.js"
import { wipeBytes } from "../../internal/bytes.js"
import { IoError, ToolError, UsageError } from "../../internal/errors.js"

/** `-r` could not rekey every file (the others were rekeyed and are listed). */
export class RekeyIncompleteError extends ToolError {}

/** agenix runs `$EDITOR`; coffer also looks at `$VISUAL`, then `vi` (see the help). */
const AGENIX_EDITOR_VARIABLES = ["EDITOR", "VISUAL"]

/** The flags of `coffer agenix` (also read by `coffer completion`). */
export const flagSpecs: readonly FlagSpec[] = [
  { key: "edit", names: ["e", "edit"], kind: "value" },
  { key: "rekey", names: ["r", "rekey"], kind: "boolean" },
  { key: "decrypt", names: ["d", "decrypt"], kind: "value" },
  { key: "identity", names: ["i", "identity"], kind: "value" },
  { key: "rules", names: ["rules"], kind: "value" },
  { key: "editor", names: ["editor"], kind: "value" },
  { key: "force", names: ["force"], kind: "boolean" },
  { key: "verbose", names: ["v", "verbose"], kind: "boolean" },
]

function helpText(invokedAs: string): string {
  return `Usage:
    ${invokedAs} -e FILE [-i IDENTITY]...     edit or create a secret
    ${invokedAs} -r [--force] [-i IDENTITY]... re-encrypt every secret to its rule
    ${invokedAs} -d FILE [-i IDENTITY]...     print a secret

agenix's command line, with the same rules file: RULES (default ./secrets.nix) evaluates
to { "FILE.age".publicKeys = [ "age1…" "ssh-ed25519 AAAA…" ]; armor = true; } and is
read with nix-instantiate (a .json file with the same data needs no Nix).

Flags:
    -e, --edit FILE        Decrypt FILE (if it exists) into a private 0700 directory in
                           memory, run $EDITOR on it, encrypt the result to FILE's keys.
                           When standard input is not a terminal, the new content is read
                           from it instead (as agenix does).
    -r, --rekey            Re-encrypt every file in the rules to its current keys. Files
                           whose recipients already match are skipped; each file is
                           reported, and a file that can't be decrypted doesn't stop the rest.
    --force                With -r, re-encrypt matching files too.
    -d, --decrypt FILE     Print FILE's plaintext on standard output.
    -i, --identity PATH    An identity file or SSH private key (repeatable). Default:
                           ~/.ssh/id_rsa and ~/.ssh/id_ed25519 when they exist.
    --rules PATH           The rules file (default: $RULES, else ./secrets.nix).
    --editor CMD           The editor for -e (default: $EDITOR, $VISUAL, vi); "-" reads
                           the new content from standard input.
    -v, --verbose          Accepted for agenix compatibility.

Examples:
    $ ${invokedAs} -e secrets/tailscale.age
    $ echo -n "tskey-auth-…" | ${invokedAs} -e secrets/tailscale.age
    $ ${invokedAs} -r -i ~/.ssh/id_ed25519
    $ ${invokedAs} -d secrets/tailscale.age -i key.txt
    $ RULES=../secrets.nix ${invokedAs} -e db.age
`
}

/**
 * Runs `coffer agenix`.
 * @throws UsageError, AgenixRulesError, NixNotFoundError, NoAgenixRuleError, EditorError,
 *   RekeyIncompleteError, the age errors
 */
export async function run(args: readonly string[], ctx: CliContext): Promise<ExitCode | undefined> {
  const parsed = parseCommandLine(args, flagSpecs, ctx, helpText)
  if (parsed === undefined) return undefined
  if (parsed.positionals.length > 0) {
    throw new UsageError(`unexpected argument ${JSON.stringify(parsed.positionals[0])}`, {
      hints: [`name the file with -e, -d: ${ctx.invokedAs} -e ${parsed.positionals[0] ?? "FILE"}`],
    })
  }
  const edit = flagValue(parsed, "edit")
  const decrypt = flagValue(parsed, "decrypt")
  const rekey = flagIsSet(parsed, "rekey")
  const modes = [edit !== undefined, decrypt !== undefined, rekey].filter(Boolean).length
  if (modes !== 1) {
    throw new UsageError(modes === 0 ? "nothing to do" : "-e, -r and -d can't be combined", {
      hints: [`run "${ctx.invokedAs} --help" for examples`],
    })
  }
  const cwd = process.cwd()
  const rulesPath = chooseRulesFile(ctx.env, flagValue(parsed, "rules"), cwd)
  const identityPaths = flagValues(parsed, "identity")
  if (decrypt !== undefined) {
    const rules = await loadAgenixRules(rulesPath)
    // agenix decrypts any file of the rules; the lookup makes a typo a clear error
    findAgenixRule(rules, decrypt, cwd)
    const identities = await loadIdentities(identityPaths, ctx)
    const plaintext = await decryptSecret(resolve(cwd, decrypt), decrypt, identities)
    try {
      await writeStdout(ctx, plaintext)
    } finally {
      wipeBytes(plaintext)
    }
    return undefined
  }
  if (edit !== undefined) {
    const rules = await loadAgenixRules(rulesPath)
    const rule = findAgenixRule(rules, edit, cwd)
    return editSecret(
      resolve(cwd, edit),
      edit,
      rule,
      identityPaths,
      flagValue(parsed, "editor"),
      ctx,
    )
  }
  const rules = await loadAgenixRules(rulesPath)
  return rekeyAll(rules, identityPaths, flagIsSet(parsed, "force"), ctx, cwd)
}

async function decryptSecret(
  path: string,
  name: string,
  identities: readonly Identity[],
): Promise<Uint8Array> {
  const ciphertext = await readSecretFile(path, name)
  const { decrypt } = await import("../../age/decrypt.js")
  try {
    return await decrypt(ciphertext, identities)
  } catch (err) {
    throw withFile(err, name)
  }
}

async function editSecret(
  path: string,
  name: string,
  rule: AgenixRule,
  identityPaths: readonly string[],
  editorFlag: string | undefined,
  ctx: CliContext,
): Promise<ExitCode | undefined> {
  await validateRule(rule)
  const exists = existsSync(path)
  let before: Uint8Array | undefined
  if (exists) {
    const identities = await loadIdentities(identityPaths, ctx)
    before = await decryptSecret(path, name, identities)
  }
  const fromStdin = editorFlag === "-" || (editorFlag === undefined && !ctx.stdin.isTTY)
  let after: Uint8Array | undefined
  try {
    if (fromStdin) {
      after = await readStdin(ctx)
      if (after.length === 0 && before !== undefined && before.length > 0) {
        throw new UsageError(
          `standard input is empty: ${JSON.stringify(name)} was left unchanged`,
          {
            hints: [
              "pipe the new content in, or run from a terminal to use $EDITOR",
              "to store an empty secret, use --editor with a command that empties the file",
            ],
          },
        )
      }
    } else {
      const editor =
        editorFlag === undefined
          ? chooseEditor(ctx.env, {
              variables: AGENIX_EDITOR_VARIABLES,
              fallbacks: ["vi"],
              shell: true,
            })
          : shellEditor(editorFlag, ["--editor"])
      after = await editInPrivateDir(name, before, editor, ctx)
    }
    if (after === undefined) {
      ctx.note(`${name} wasn't created, nothing to encrypt`)
      return undefined
    }
    if (before !== undefined && sameBytes(before, after)) {
      ctx.note(`${name} wasn't changed, skipping re-encryption`)
      return undefined
    }
    const ciphertext = await encryptToRule(after, rule)
    await replaceFile(path, ciphertext, 0o644)
    ctx.note(`${name} ${exists ? "updated" : "created"} for ${describeKeys(rule)}`)
    return undefined
  } finally {
    if (before !== undefined) wipeBytes(before)
    if (after !== undefined) wipeBytes(after)
  }
}

async function editInPrivateDir(
  name: string,
  before: Uint8Array | undefined,
  editor: EditorCommand,
  ctx: CliContext,
): Promise<Uint8Array | undefined> {
  const temp = createPrivateTempDir(ctx.env, (m) => {
    ctx.warn(m)
  })
  try {
    // a new secret's file is left for the editor to create
    const file = plaintextPath(temp, name, "secret")
    if (before !== undefined) await writePlaintextFile(file, before)
    await runEditor(editor, file, temp, ctx.env)
    return await readPlaintextFile(file)
  } finally {
    temp.remove()
  }
}

/** Re-encrypts every file to its rule; one failing file doesn't stop the others. */
async function rekeyAll(
  rules: AgenixRules,
  identityPaths: readonly string[],
  force: boolean,
  ctx: CliContext,
  cwd: string,
): Promise<ExitCode | undefined> {
  if (rules.rules.length === 0) {
    ctx.note(`rules file ${rules.source} lists no files: nothing to rekey`)
    return undefined
  }
  const identities = await loadIdentities(identityPaths, ctx)
  const counts = { rekeyed: 0, unchanged: 0, missing: 0, failed: 0 }
  const failures: string[] = []
  for (const rule of rules.rules) {
    const shown = displayPath(rule.path, cwd)
    if (!existsSync(rule.path)) {
      counts.missing += 1
      ctx.note(`missing    ${shown} (does not exist, skipped)`)
      continue
    }
    try {
      await validateRule(rule)
      const ciphertext = await readSecretFile(rule.path, shown)
      const checked = await checkAgainstRule(ciphertext, identities, rule).catch((err: unknown) => {
        throw withFile(err, shown)
      })
      try {
        if (checked.matches && !force) {
          counts.unchanged += 1
          ctx.note(`unchanged  ${shown}`)
          continue
        }
        await replaceFile(rule.path, await encryptToRule(checked.plaintext, rule), 0o644)
      } finally {
        wipeBytes(checked.plaintext)
      }
      counts.rekeyed += 1
      ctx.note(`rekeyed    ${shown}${checked.matches ? " (forced)" : ` (${checked.reason})`}`)
    } catch (err) {
      counts.failed += 1
      const reason = err instanceof Error ? err.message : String(err)
      failures.push(`${shown}: ${reason}`)
      ctx.note(`failed     ${shown}: ${reason}`)
    }
  }
  ctx.note(
    `rekeyed ${String(counts.rekeyed)}, unchanged ${String(counts.unchanged)}, missing ${String(counts.missing)}, failed ${String(counts.failed)}`,
  )
  if (counts.failed > 0) {
    throw new RekeyIncompleteError(
      `${String(counts.failed)} of ${String(rules.rules.length)} files could not be rekeyed`,
      {
        hints: [
          ...failures.slice(0, 5),
          "the other files were rekeyed; fix the identities (-i) and run -r again",
        ],
      },
    )
  }
  return exitCodes.ok
}

/** Fails early, naming the file, when a rule has a public key that isn't a recipient. */
async function validateRule(rule: AgenixRule): Promise<void> {
  const { parseRecipient } = await import("../../age/keyfile.js")
  for (const key of rule.publicKeys) {
    try {
      await parseRecipient(key)
    } catch (cause) {
      if (!(cause instanceof RecipientParseError)) throw cause
      throw new AgenixRulesError(`${JSON.stringify(rule.name)}: ${cause.message}`, {
        cause,
        hints: cause.hints,
      })
    }
  }
}

/** The identities of `-i`, else `~/.ssh/id_rsa` and `~/.ssh/id_ed25519` when they exist. */
async function loadIdentities(paths: readonly string[], ctx: CliContext): Promise<Identity[]> {
  const home = ctx.env["HOME"] ?? homedir()
  const chosen =
    paths.length > 0
      ? paths
      : [join(home, ".ssh", "id_rsa"), join(home, ".ssh", "id_ed25519")].filter((p) =>
          existsSync(p),
        )
  if (chosen.length === 0) {
    throw new UsageError("no identities to decrypt with", {
      hints: [
        "pass -i with an age identity file or an SSH private key",
        `without -i, ${join(home, ".ssh", "id_rsa")} and ${join(home, ".ssh", "id_ed25519")} are used when they exist`,
      ],
    })
  }
  const identities: Identity[] = []
  for (const path of chosen) {
    const data = await readSmallFile(path, "identity file", KEY_FILE_SIZE_LIMIT, ctx.stdin)
    let sshPublicKey: string | undefined
    try {
      sshPublicKey = readFileSync(`${path}.pub`, "utf8")
    } catch {
      sshPublicKey = undefined
    }
    identities.push(
      ...(await parseIdentityFile(data, {
        name: path,
        askPassphrase: (prompt) => readSecret(prompt),
        sshPublicKey,
      })),
    )
  }
  return identities
}

async function readSecretFile(path: string, name: string): Promise<Uint8Array> {
  try {
    return new Uint8Array(await readFile(path))
  } catch (cause) {
    throw new IoError(`can't read ${JSON.stringify(name)}: ${describeSystemError(cause)}`, {
      cause,
    })
  }
}

async function readStdin(ctx: CliContext): Promise<Uint8Array> {
  const chunks: Buffer[] = []
  for await (const chunk of ctx.stdin) {
    chunks.push(typeof chunk === "string" ? Buffer.from(chunk) : (chunk as Buffer))
  }
  const all = Buffer.concat(chunks)
  const copy = new Uint8Array(all)
  all.fill(0)
  for (const c of chunks) c.fill(0)
  return copy
}

function writeStdout(ctx: CliContext, bytes: Uint8Array): Promise<void> {
  return new Promise((resolvePromise, reject) => {
    ctx.stdout.write(bytes, (err) => {
      if (err) reject(err)
      else resolvePromise()
    })
  })
}

/** Adds the file name to a decryption failure (the message stays one line). */
function withFile(err: unknown, name: string): unknown {
  if (err instanceof NoIdentityMatchError) {
    return new NoIdentityMatchError(err.stanzaTypes, {
      cause: err,
      hints: [
        `while decrypting ${JSON.stringify(name)}`,
        "pass -i with a key listed in the file's publicKeys (an age identity or the SSH private key)",
      ],
    })
  }
  if (err instanceof ToolError && !err.message.includes(name)) {
    const Kind = err.constructor as new (
      m: string,
      o: { hints: readonly string[]; cause: unknown },
    ) => ToolError
    return new Kind(`${JSON.stringify(name)}: ${err.message}`, { hints: err.hints, cause: err })
  }
  return err
}

function describeKeys(rule: AgenixRule): string {
  const n = rule.publicKeys.length
  return `${String(n)} key${n === 1 ? "" : "s"}${rule.armor ? " (armored)" : ""}`
}

function displayPath(path: string, cwd: string): string {
  const rel = relative(cwd, path)
  return rel === "" || rel.startsWith("..") ? path : rel
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((byte, i) => byte === b[i])
}
