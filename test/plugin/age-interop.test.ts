// Interop of our plugin client with Debian's age 1.1.1, both driving the test plugin
// test/plugin/age-plugin-coffertest (docs/formats/age.md "Plugins"): files age encrypts through the plugin
// decrypt with ours, and the other way round, including the data-less identity of -j.
import { test } from "node:test"
import assert from "node:assert/strict"
import { readFileSync } from "node:fs"
import { join } from "node:path"
import {
  PluginIdentity,
  PluginRecipient,
  encodePluginIdentity,
  encodePluginRecipient,
  groupPluginIdentities,
  groupPluginRecipients,
  type PluginOptions,
} from "../../src/age/plugin.js"
import { encrypt } from "../../src/age/encrypt.js"
import { decrypt } from "../../src/age/decrypt.js"
import { repoRoot, runCommand } from "../support/cli.js"
import { tmpTree } from "../support/tmp.js"
import { requireTool } from "../support/tools.js"

const pluginDir = join(repoRoot, "test", "plugin")
const env = { PATH: `${pluginDir}:${process.env["PATH"] ?? ""}`, COFFERTEST_MODE: "" }
const options: PluginOptions = { env: { ...process.env, ...env } }
const plaintext = new TextEncoder().encode("through the plugin, both ways\n")

function key(byte: number): Uint8Array {
  return new Uint8Array(32).fill(byte)
}

test("age 1.1.1 encrypts through the plugin; we decrypt", async (t) => {
  if (!requireTool(t, "age", "age")) return
  const dir = tmpTree(t, { "plain.txt": plaintext })
  const a = encodePluginRecipient("coffertest", key(1))
  const b = encodePluginRecipient("coffertest", key(2))
  for (const armor of [false, true]) {
    const out = join(dir, armor ? "file.age.txt" : "file.age")
    const args = ["-r", a, "-r", b, ...(armor ? ["-a"] : []), "-o", out, join(dir, "plain.txt")]
    const result = await runCommand("age", args, { env })
    assert.equal(result.status, 0, result.stderr)
    const file = new Uint8Array(readFileSync(out))
    const second = PluginIdentity.fromString(encodePluginIdentity("coffertest", key(2)), options)
    assert.deepEqual(await decrypt(file, [second]), plaintext)
    const identities = groupPluginIdentities([
      PluginIdentity.fromString(encodePluginIdentity("coffertest", key(9)), options),
      PluginIdentity.fromString(encodePluginIdentity("coffertest", key(1)), options),
    ])
    assert.deepEqual(await decrypt(file, identities), plaintext)
  }
})

test("we encrypt through the plugin; age 1.1.1 decrypts with -i and with -j", async (t) => {
  if (!requireTool(t, "age", "age")) return
  const identityText = encodePluginIdentity("coffertest", key(3))
  const dir = tmpTree(t, { "identity.txt": `# test key\n${identityText}\n` })
  const recipients = groupPluginRecipients([
    PluginRecipient.fromString(encodePluginRecipient("coffertest", key(3)), options),
    PluginRecipient.fromString(encodePluginRecipient("coffertest", key(4)), options),
  ])
  const file = await encrypt(plaintext, recipients, { armor: true })
  const viaFile = await runCommand("age", ["-d", "-i", join(dir, "identity.txt")], {
    env,
    input: file,
  })
  assert.equal(viaFile.status, 0, viaFile.stderr)
  assert.deepEqual(new Uint8Array(viaFile.stdout), plaintext)
  assert.match(viaFile.stderr, /coffertest plugin: trying 1 key\(s\)/)

  // -j coffertest: the data-less identity, encrypted to through add-identity
  const dataless = PluginIdentity.withoutData("coffertest", options).toRecipient()
  const file2 = await encrypt(plaintext, [dataless])
  const viaJ = await runCommand("age", ["-d", "-j", "coffertest"], { env, input: file2 })
  assert.equal(viaJ.status, 0, viaJ.stderr)
  assert.deepEqual(new Uint8Array(viaJ.stdout), plaintext)

  // the wrong key: age reports no match
  const wrong = await runCommand("age", ["-d", "-i", join(dir, "identity.txt")], {
    env,
    input: file2,
  })
  assert.notEqual(wrong.status, 0)
  assert.match(wrong.stderr, /no identity matched/)
})
