/**
 * The command table: every `coffer` command, its one-line summary and its module, loaded
 * lazily (docs/architecture.md "cli"). In a module of its own so that the dispatcher
 * (`main.ts`) reads it and `coffer completion` gets it through `CliContext.commandTable`
 * without an import cycle: this file imports command modules only through `import()`,
 * and no command module imports it. Adding a command is one entry here.
 *
 * The age bundle (`scripts/bundle.mjs`) keeps only the `age` entry's module: every other
 * `import("./commands/…")` of this file becomes a stub there.
 */
import type { CommandListing, CommandModule } from "./command.js"

/** One command: its summary in `coffer --help` and how to load its module. */
export interface CommandEntry {
  /** One line for `coffer --help` (and the zsh and fish completions). */
  readonly summary: string
  /** Imports the command's module (lazily: start-up loads only the command that runs). */
  readonly load: () => Promise<CommandModule>
}

/**
 * Every command, in the order `coffer --help` lists them. Adding a command is one entry.
 */
export const commands: Readonly<Record<string, CommandEntry>> = {
  age: {
    summary: "encrypt and decrypt files (the age command line)",
    load: () => import("./commands/age.js"),
  },
  "age-keygen": {
    summary: "generate an age identity, or print an identity file's recipients (-y)",
    load: () => import("./commands/age-keygen.js"),
  },
  "ssh-to-age": {
    summary: "convert SSH ed25519 keys to age keys (as Mic92/ssh-to-age)",
    load: () => import("./commands/ssh-to-age.js"),
  },
  encrypt: {
    summary: "encrypt a file as sops does, to --age and --pgp keys",
    load: () => import("./commands/encrypt.js"),
  },
  decrypt: {
    summary: "decrypt a sops file (YAML, JSON, dotenv, INI, binary)",
    load: () => import("./commands/decrypt.js"),
  },
  edit: {
    summary: "edit a sops file in your editor (also: coffer FILE)",
    load: () => import("./commands/edit.js"),
  },
  set: {
    summary: 'set one value of a sops file: set FILE \'["a"]["b"]\' JSON',
    load: () => import("./commands/set.js"),
  },
  unset: {
    summary: "remove one key of a sops file: unset FILE '[\"a\"]'",
    load: () => import("./commands/unset.js"),
  },
  updatekeys: {
    summary: "give sops files (and folders of them) the keys of their .sops.yaml rule",
    load: () => import("./commands/updatekeys.js"),
  },
  rotate: {
    summary: "make a new data key for a sops file and re-encrypt every value",
    load: () => import("./commands/rotate.js"),
  },
  groups: {
    summary: "add or delete a key group of a sops file (Shamir secret sharing)",
    load: () => import("./commands/groups.js"),
  },
  "exec-env": {
    summary: "run a command with a sops file's values in its environment",
    load: () => import("./commands/exec-env.js"),
  },
  "exec-file": {
    summary: "run a command with a sops file's plaintext at {} (FIFO or private file)",
    load: () => import("./commands/exec-file.js"),
  },
  filestatus: {
    summary: "print whether a file is sops-encrypted, as JSON",
    load: () => import("./commands/filestatus.js"),
  },
  agenix: {
    summary: "edit, rekey and decrypt agenix secrets (secrets.nix rules)",
    load: () => import("./commands/agenix.js"),
  },
  audit: {
    summary: "report who can read which secret, stale recipients and committed plaintext",
    load: () => import("./commands/audit.js"),
  },
  hook: {
    summary: "install git's pre-commit hook that refuses plaintext (coffer audit --staged)",
    load: () => import("./commands/hook.js"),
  },
  textconv: {
    summary: "show an encrypted file decrypted for git diff (diff.<name>.textconv)",
    load: () => import("./commands/textconv.js"),
  },
  install: {
    summary: "install a host's secrets into /run/secrets (a sops-nix manifest)",
    load: () => import("./commands/install.js"),
  },
  units: {
    summary: "write the systemd units that install a manifest's secrets at boot",
    load: () => import("./commands/units.js"),
  },
  tailscale: {
    summary: "join this host to its tailnet as declared (tailscale up, idempotent, no key in argv)",
    load: () => import("./commands/tailscale.js"),
  },
  completion: {
    summary: "print a shell completion script (bash, zsh or fish)",
    load: () => import("./commands/completion.js"),
  },
  demo: {
    summary: "run the whole flow on a throwaway repository (keys, rule, encrypt, install, units)",
    load: () => import("./commands/demo.js"),
  },
}

/**
 * Every command with its summary and module loader, in help order (given to commands as
 * `CliContext.commandTable`, so `coffer completion` follows this table).
 * @returns the table
 */
export function commandTable(): readonly CommandListing[] {
  return Object.entries(commands).map(([name, entry]) => ({ name, ...entry }))
}

/** Program names that run one command directly (`coffer-age ARGS` = `coffer age ARGS`). */
export const directPrograms: Readonly<Record<string, string>> = {
  "coffer-age": "age",
  "coffer-age-keygen": "age-keygen",
}
