// Key discovery in sops's order (docs/formats/sops.md "age keys and where they are found"),
// with injected env, files and commands.
import { test } from "node:test"
import assert from "node:assert/strict"
import { readFileSync } from "node:fs"
import { join } from "node:path"
import { encrypt } from "../age/encrypt.js"
import { decrypt } from "../age/decrypt.js"
import { generateX25519Identity, parseX25519Recipient } from "../age/x25519.js"
import { parseSshRecipient } from "../age/ssh-public-key.js"
import type { Identity } from "../age/recipient.js"
import { repoRoot } from "../../test/support/cli.js"
import type { DiscoveryIo, SearchedPlace } from "./discover.js"
import { defaultAgeKeyFile, describeSearch, discoverAgeIdentities } from "./discover.js"

const nixKeys = join(repoRoot, "test/vectors/sops/sops-nix/keys")
const sshKey = readFileSync(join(nixKeys, "ssh-ed25519-key"))
const sshPub = readFileSync(join(nixKeys, "ssh-ed25519-key.pub"), "utf8").trim()
// ssh-to-age of ssh-ed25519-key.pub (test/vectors/sops/README.md).
const convertedRecipient = "age1a8pk4akrdamj7nvqy3zywgtny8dxz7t5xzu7u8v9mhrayp9freqsqatyrs"

interface FakeIo extends DiscoveryIo {
  readonly commands: { argv: readonly string[]; env: Readonly<Record<string, string>> }[]
}

function fakeIo(
  env: Record<string, string>,
  files: Record<string, Uint8Array | string>,
  commandOutput: (
    argv: readonly string[],
    env: Readonly<Record<string, string>>,
  ) => string = () => {
    throw new Error("exit status 1")
  },
): FakeIo {
  const commands: FakeIo["commands"] = []
  return {
    env,
    homeDir: "/home/me",
    platform: "linux",
    commands,
    readFile(path) {
      const content = files[path]
      if (content === undefined) return Promise.resolve(undefined)
      return Promise.resolve(
        typeof content === "string" ? new TextEncoder().encode(content) : new Uint8Array(content),
      )
    },
    runCommand(argv, extra) {
      commands.push({ argv, env: extra })
      try {
        return Promise.resolve(new TextEncoder().encode(commandOutput(argv, extra)))
      } catch (e) {
        return Promise.reject(e instanceof Error ? e : new Error(String(e)))
      }
    },
  }
}

async function opens(identities: readonly Identity[], recipientText: string): Promise<boolean> {
  const recipient = recipientText.startsWith("ssh-")
    ? parseSshRecipient(recipientText)
    : parseX25519Recipient(recipientText)
  const file = await encrypt(new TextEncoder().encode("data"), [recipient])
  try {
    return new TextDecoder().decode(await decrypt(file, identities)) === "data"
  } catch {
    return false
  }
}

function outcomeOf(searched: readonly SearchedPlace[], source: string): string {
  const place = searched.find((s) => s.source === source)
  assert.ok(place, `no entry for ${source}`)
  return place.outcome.kind
}

test("every source is looked at in sops's order and described", async () => {
  const a = generateX25519Identity()
  const b = generateX25519Identity()
  const io = fakeIo(
    { SOPS_AGE_KEY: a.encode(), SOPS_AGE_KEY_FILE: "/nope/keys.txt" },
    { "/home/me/.config/sops/age/keys.txt": `# my key\n${b.encode()}\n` },
  )
  const found = await discoverAgeIdentities(io)
  assert.deepEqual(
    found.searched.map((s) => s.source),
    [
      "SOPS_AGE_SSH_PRIVATE_KEY_FILE",
      "SOPS_AGE_SSH_PRIVATE_KEY_CMD",
      "~/.ssh/id_ed25519",
      "~/.ssh/id_rsa",
      "SOPS_AGE_KEY",
      "SOPS_AGE_KEY_FILE",
      "SOPS_AGE_KEY_CMD",
      "default key file",
    ],
  )
  assert.equal(outcomeOf(found.searched, "~/.ssh/id_ed25519"), "missing")
  assert.equal(outcomeOf(found.searched, "SOPS_AGE_KEY"), "found")
  assert.equal(outcomeOf(found.searched, "SOPS_AGE_KEY_FILE"), "failed")
  assert.equal(outcomeOf(found.searched, "default key file"), "found")
  assert.equal(found.identities.length, 2)
  assert.ok(await opens(found.identities, a.toRecipient().encode()))
  assert.ok(await opens(found.identities, b.toRecipient().encode()))
  const lines = describeSearch(found.searched)
  assert.ok(lines.includes("SOPS_AGE_KEY_FILE (/nope/keys.txt): failed: file does not exist"))
  assert.ok(lines.includes("default key file (/home/me/.config/sops/age/keys.txt): 1 identity"))
  assert.ok(lines.includes("SOPS_AGE_KEY_CMD: not set"))
  // Key material never appears in the description.
  assert.ok(!lines.join("\n").includes("AGE-SECRET-KEY"))
})

test("an SSH ed25519 key opens files for its SSH recipient and for its ssh-to-age recipient", async () => {
  const io = fakeIo({ SOPS_AGE_SSH_PRIVATE_KEY_FILE: "/keys/host" }, { "/keys/host": sshKey })
  const found = await discoverAgeIdentities(io)
  assert.equal(found.identities.length, 2)
  assert.ok(await opens(found.identities, sshPub))
  assert.ok(await opens(found.identities, convertedRecipient))
  assert.ok(!(await opens(found.identities, generateX25519Identity().toRecipient().encode())))
  // With the env variable set, ~/.ssh is not used (sops uses one SSH key at most).
  assert.equal(outcomeOf(found.searched, "~/.ssh/id_ed25519"), "skipped")
})

test("~/.ssh/id_ed25519 is used when no SSH key is set, and then id_rsa is not", async () => {
  const io = fakeIo({}, { "/home/me/.ssh/id_ed25519": sshKey, "/home/me/.ssh/id_rsa": "junk" })
  const found = await discoverAgeIdentities(io)
  assert.equal(outcomeOf(found.searched, "~/.ssh/id_ed25519"), "found")
  assert.equal(outcomeOf(found.searched, "~/.ssh/id_rsa"), "skipped")
  assert.ok(await opens(found.identities, convertedRecipient))
})

test("a broken SSH key is reported, and the search goes on", async () => {
  const b = generateX25519Identity()
  const io = fakeIo(
    { SOPS_AGE_SSH_PRIVATE_KEY_FILE: "/keys/bad", XDG_CONFIG_HOME: "/xdg" },
    {
      "/keys/bad": "-----BEGIN OPENSSH PRIVATE KEY-----\nAAAA\n-----END OPENSSH PRIVATE KEY-----\n",
      "/xdg/sops/age/keys.txt": b.encode(),
    },
  )
  const found = await discoverAgeIdentities(io)
  assert.equal(outcomeOf(found.searched, "SOPS_AGE_SSH_PRIVATE_KEY_FILE"), "failed")
  assert.equal(outcomeOf(found.searched, "default key file"), "found")
  assert.ok(await opens(found.identities, b.toRecipient().encode()))
})

test("SOPS_AGE_KEY may separate identities by any whitespace (sops 3.13)", async () => {
  const a = generateX25519Identity()
  const b = generateX25519Identity()
  const found = await discoverAgeIdentities(
    fakeIo(
      { SOPS_AGE_KEY: `# created: today\n# public key: age1x\n ${a.encode()}  ${b.encode()}\n` },
      {},
    ),
  )
  assert.equal(found.identities.length, 2)
  assert.ok(await opens(found.identities, b.toRecipient().encode()))
})

test("SOPS_AGE_KEY_CMD runs without a shell, once per recipient, with SOPS_AGE_RECIPIENT", async () => {
  const a = generateX25519Identity()
  const io = fakeIo({ SOPS_AGE_KEY_CMD: "pass show 'age key'" }, {}, () => a.encode() + "\n")
  const found = await discoverAgeIdentities(io, { recipients: ["age1one", "age1two", "age1one"] })
  assert.deepEqual(
    io.commands.map((c) => [c.argv, c.env]),
    [
      [["pass", "show", "age key"], { SOPS_AGE_RECIPIENT: "age1one" }],
      [["pass", "show", "age key"], { SOPS_AGE_RECIPIENT: "age1two" }],
    ],
  )
  // The same output twice gives the identity once.
  assert.equal(found.identities.length, 1)
  assert.ok(await opens(found.identities, a.toRecipient().encode()))
})

test("a failing command is reported with its reason", async () => {
  const found = await discoverAgeIdentities(fakeIo({ SOPS_AGE_KEY_CMD: "false" }, {}))
  assert.equal(found.identities.length, 0)
  assert.deepEqual(
    describeSearch(found.searched).at(-2),
    "SOPS_AGE_KEY_CMD (false): failed: exit status 1",
  )
})

test("the default key file location follows sops's UserConfigDir", () => {
  assert.equal(defaultAgeKeyFile({ env: {}, homeDir: "/h" }), "/h/.config/sops/age/keys.txt")
  assert.equal(
    defaultAgeKeyFile({ env: { XDG_CONFIG_HOME: "/x" }, homeDir: "/h" }),
    "/x/sops/age/keys.txt",
  )
  assert.equal(
    defaultAgeKeyFile({ env: {}, homeDir: "/Users/u", platform: "darwin" }),
    "/Users/u/Library/Application Support/sops/age/keys.txt",
  )
  assert.equal(defaultAgeKeyFile({ env: {}, homeDir: undefined }), undefined)
})
