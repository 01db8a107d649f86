// Tests for the plugin protocol client (docs/formats/age.md "Plugins"), driving the toy plugin
// test/plugin/age-plugin-coffertest through real child processes: wrap and unwrap, several
// keys in one process, grease, UI routing, labels, errors, missing plugins and bad names.
import { test, type TestContext } from "node:test"
import assert from "node:assert/strict"
import { existsSync, readFileSync } from "node:fs"
import { join } from "node:path"
import { bech32 } from "@scure/base"
import {
  PluginIdentity,
  PluginIdentityGroup,
  PluginRecipient,
  PluginRecipientGroup,
  checkPluginName,
  encodePluginIdentity,
  encodePluginRecipient,
  findPluginBinary,
  groupPluginIdentities,
  groupPluginRecipients,
  setPluginDefaults,
  type PluginOptions,
  type PluginUi,
} from "./plugin.js"
import { IdentityParseError, PluginError, RecipientParseError } from "./errors.js"
import type { Identity, Recipient, Stanza } from "./recipient.js"
import { repoRoot } from "../../test/support/cli.js"
import { tmpTree } from "../../test/support/tmp.js"
import type { Entropy } from "../internal/entropy.js"

const pluginDir = join(repoRoot, "test", "plugin")
const FILE_KEY = new TextEncoder().encode("YELLOW SUBMARINE")

interface LogEvent {
  readonly pid: number
  readonly event: string
  readonly stateMachine?: string
  readonly keys?: number
  readonly grease?: number
  readonly labelsExtension?: boolean
  readonly how?: string
  readonly reply?: string
  readonly correct?: boolean
}

/** Entropy that always makes the client send grease (first byte not a multiple of 3). */
const greasyEntropy: Entropy = (length) => new Uint8Array(length).fill(7)

function key(byte: number): Uint8Array {
  return new Uint8Array(32).fill(byte)
}

/** Options running the test plugin from PATH, logging to a temp file. */
function setup(
  t: TestContext,
  mode = "",
  ui: PluginUi = {},
): { options: PluginOptions; events: () => LogEvent[] } {
  const dir = tmpTree(t)
  const log = join(dir, "log.jsonl")
  const options: PluginOptions = {
    ui,
    entropy: greasyEntropy,
    env: {
      ...process.env,
      PATH: `${pluginDir}:${process.env["PATH"] ?? ""}`,
      COFFERTEST_LOG: log,
      COFFERTEST_MODE: mode,
    },
  }
  const events = (): LogEvent[] =>
    existsSync(log)
      ? readFileSync(log, "utf8")
          .trim()
          .split("\n")
          .map((l) => JSON.parse(l) as LogEvent)
      : []
  return { options, events }
}

function recipient(byte: number, options: PluginOptions): PluginRecipient {
  return PluginRecipient.fromString(encodePluginRecipient("coffertest", key(byte)), options)
}

function identity(byte: number, options: PluginOptions): PluginIdentity {
  return PluginIdentity.fromString(encodePluginIdentity("coffertest", key(byte)), options)
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}

test("plugin names: only [a-z0-9-_.+], no path separators", () => {
  assert.equal(checkPluginName("YubiKey"), "yubikey")
  for (const ok of ["a", "se-2.x_y+z", "123"]) assert.equal(checkPluginName(ok), ok)
  for (const bad of ["", "../evil", "a/b", "a\\b", "a b", "é", "a\0"]) {
    assert.throws(() => checkPluginName(bad), PluginError, bad)
    assert.throws(() => PluginIdentity.withoutData(bad), PluginError, bad)
  }
  // A Bech32 HRP may hold "/" and "."; such a recipient or identity is refused.
  const evil = bech32.encode("age1../../bin/sh", bech32.toWords(key(1)), false)
  assert.throws(() => PluginRecipient.fromString(evil), RecipientParseError)
  const evilIdentity = bech32
    .encode("age-plugin-../../bin/sh-", bech32.toWords(key(1)), false)
    .toUpperCase()
  assert.throws(() => PluginIdentity.fromString(evilIdentity), IdentityParseError)
  assert.throws(() => PluginRecipient.fromString("age1coffertest1qqqq"), RecipientParseError)
  assert.throws(
    () => PluginIdentity.fromString(encodePluginIdentity("x", key(1)).toLowerCase()),
    IdentityParseError,
  )
})

test("key strings: the data-less identity of -j and parsed names", () => {
  // the data-less identity from the age plugin documentation (docs/formats/age.md "Plugins")
  assert.equal(PluginIdentity.withoutData("demo").encode(), "AGE-PLUGIN-DEMO-1G7ZR6S")
  const r = PluginRecipient.fromString(encodePluginRecipient("coffertest", key(1)))
  assert.equal(r.name, "coffertest")
  assert.ok(r.toString().startsWith("age1coffertest1"))
  const i = PluginIdentity.fromString(encodePluginIdentity("CofferTest", key(1)))
  assert.equal(i.name, "coffertest")
  assert.ok(i.encode().startsWith("AGE-PLUGIN-COFFERTEST-1"))
  assert.equal(i.toRecipient().isIdentity, true)
})

test("wrap and unwrap through the plugin, with grease both ways and msg routed to the UI", async (t) => {
  const messages: string[] = []
  const { options, events } = setup(t, "", {
    displayMessage: (plugin, message) => {
      messages.push(`${plugin}: ${message}`)
    },
  })
  const stanzas = await recipient(1, options).wrapFileKey(FILE_KEY)
  assert.equal(stanzas.length, 1)
  assert.equal(stanzas[0]?.type, "coffertest")
  assert.deepEqual(await identity(1, options).unwrapFileKey(stanzas), FILE_KEY)
  assert.equal(await identity(2, options).unwrapFileKey(stanzas), null)
  assert.deepEqual(messages, [
    "coffertest: wrapping to 1 key(s)",
    "coffertest: trying 1 key(s)",
    "coffertest: trying 1 key(s)",
  ])
  const phase1 = events().filter((e) => e.event === "phase1")
  assert.equal(phase1.length, 3)
  // our grease reached the plugin, and the plugin's grease got `unsupported` (else it fails)
  for (const e of phase1) assert.ok((e.grease ?? 0) >= 1)
  assert.equal(phase1[0]?.labelsExtension, true)
})

test("without a UI, msg is answered fail and the exchange still completes", async (t) => {
  const { options } = setup(t)
  const stanzas = await recipient(3, { ...options, ui: {} }).wrapFileKey(FILE_KEY)
  assert.deepEqual(await identity(3, { ...options, ui: {} }).unwrapFileKey(stanzas), FILE_KEY)
})

test("several recipients of one plugin share one process, which is ended afterwards", async (t) => {
  const { options, events } = setup(t)
  const other: Recipient = { wrapFileKey: () => Promise.resolve([]) }
  const grouped = groupPluginRecipients([recipient(1, options), other, recipient(2, options)])
  assert.equal(grouped.length, 2)
  assert.ok(grouped[0] instanceof PluginRecipientGroup)
  assert.equal(grouped[1], other)
  const stanzas = await grouped[0].wrapFileKey(FILE_KEY)
  assert.equal(stanzas.length, 2)
  const starts = events().filter((e) => e.event === "start")
  assert.equal(starts.length, 1)
  assert.equal(events().find((e) => e.event === "phase1")?.keys, 2)
  const pid = starts[0]?.pid ?? 0
  assert.ok(!isAlive(pid), "the plugin process was ended")
  assert.ok(events().some((e) => e.event === "exit" && e.pid === pid))

  // Both identities go to one identity-v1 process; the second one matches.
  const identities = groupPluginIdentities([identity(9, options), identity(2, options)])
  assert.equal(identities.length, 1)
  assert.ok(identities[0] instanceof PluginIdentityGroup)
  const only = [stanzas[1] as Stanza]
  assert.deepEqual(await (identities[0] as Identity).unwrapFileKey(only), FILE_KEY)
  const identityRuns = events().filter(
    (e) => e.event === "phase1" && e.stateMachine === "identity-v1",
  )
  assert.equal(identityRuns.length, 1)
  assert.equal(identityRuns[0]?.keys, 2)
})

test("an identity used as a recipient (-e -i) and the data-less identity (-j) round-trip", async (t) => {
  const { options } = setup(t)
  const stanzas = await identity(4, options).toRecipient().wrapFileKey(FILE_KEY)
  assert.deepEqual(await identity(4, options).unwrapFileKey(stanzas), FILE_KEY)
  const dataless = PluginIdentity.withoutData("coffertest", options)
  const stanzas2 = await dataless.toRecipient().wrapFileKey(FILE_KEY)
  assert.deepEqual(await dataless.unwrapFileKey(stanzas2), FILE_KEY)
  assert.equal(await identity(4, options).unwrapFileKey(stanzas2), null)
})

test("labels declared by the plugin are returned for the mixing rule", async (t) => {
  const { options } = setup(t, "labels=postquantum")
  const result = await recipient(1, options).wrapFileKeyWithLabels(FILE_KEY)
  assert.deepEqual(result.labels, ["postquantum"])
  const plain = setup(t)
  assert.deepEqual((await recipient(1, plain.options).wrapFileKeyWithLabels(FILE_KEY)).labels, [])
})

test("confirm, request-secret and request-public reach the UI", async (t) => {
  const asked: string[] = []
  const ui: PluginUi = {
    confirm: (_plugin, prompt, yes, no) => {
      asked.push(`confirm ${prompt} [${yes}/${no ?? ""}]`)
      return true
    },
    requestValue: (_plugin, prompt, secret) => {
      asked.push(`${secret ? "secret" : "public"} ${prompt}`)
      return secret ? "hunter2" : "laptop"
    },
    displayMessage: (_plugin, message) => {
      asked.push(`msg ${message}`)
    },
  }
  const { options, events } = setup(t, "confirm,secret,public", ui)
  const stanzas = await recipient(5, options).wrapFileKey(FILE_KEY)
  assert.deepEqual(asked, [
    "confirm continue with coffertest? [Go on/Stop]",
    "secret coffertest PIN",
    "public coffertest label",
    "msg wrapping to 1 key(s) for laptop",
  ])
  assert.equal(events().find((e) => e.event === "confirm")?.reply, "ok yes")
  assert.equal(events().find((e) => e.event === "secret")?.correct, true)
  assert.deepEqual(await identity(5, options).unwrapFileKey(stanzas), FILE_KEY)
})

test("a refused confirm or a missing PIN becomes the plugin's error", async (t) => {
  const no = setup(t, "confirm", { confirm: () => false })
  await assert.rejects(recipient(1, no.options).wrapFileKey(FILE_KEY), {
    name: "PluginError",
    message: "plugin coffertest: coffertest: the user did not confirm",
  })
  assert.equal(no.events().find((e) => e.event === "confirm")?.reply, "ok no")
  const throwing = setup(t, "secret", {
    requestValue: () => {
      throw new Error("no terminal")
    },
  })
  await assert.rejects(recipient(1, throwing.options).wrapFileKey(FILE_KEY), /wrong PIN/)
  assert.equal(throwing.events().find((e) => e.event === "secret")?.reply, "fail")
})

test("a plugin that reports an error gives a PluginError with its message", async (t) => {
  const wrap = setup(t, "error-wrap")
  await assert.rejects(recipient(1, wrap.options).wrapFileKey(FILE_KEY), (error: unknown) => {
    assert.ok(error instanceof PluginError)
    assert.equal(error.message, "plugin coffertest: coffertest: refusing to wrap on purpose")
    return true
  })
  const good = setup(t)
  const stanzas = await recipient(1, good.options).wrapFileKey(FILE_KEY)
  const unwrap = setup(t, "error-unwrap")
  await assert.rejects(
    identity(1, unwrap.options).unwrapFileKey(stanzas),
    /refusing to unwrap on purpose/,
  )
})

test("a plugin that crashes or breaks the protocol gives a PluginError", async (t) => {
  const crash = setup(t, "crash")
  await assert.rejects(recipient(1, crash.options).wrapFileKey(FILE_KEY), (error: unknown) => {
    assert.ok(error instanceof PluginError)
    assert.match(error.message, /^plugin coffertest stopped before finishing \(exit status 3\)$/)
    assert.ok(error.hints.some((h) => h.includes("coffertest crashed on purpose")))
    return true
  })
  const bad = setup(t, "bad-stanza")
  await assert.rejects(recipient(1, bad.options).wrapFileKey(FILE_KEY), /broke the protocol/)
  // the malformed stanza is refused by the plugin with `error stanza`
  const good = setup(t)
  const malformed: Stanza = { type: "coffertest", args: ["AAAAAA", "x"], body: FILE_KEY }
  await assert.rejects(identity(1, good.options).unwrapFileKey([malformed]), /malformed coffertest/)
})

test("a missing plugin is a clear PluginError, and PATH entries that are not absolute are skipped", async (t) => {
  const { options } = setup(t)
  const missing = PluginRecipient.fromString(encodePluginRecipient("nosuchplugin", key(1)), options)
  await assert.rejects(missing.wrapFileKey(FILE_KEY), (error: unknown) => {
    assert.ok(error instanceof PluginError)
    assert.equal(error.message, "age-plugin-nosuchplugin not found in PATH: install it or fix PATH")
    return true
  })
  assert.equal(
    findPluginBinary("coffertest", { PATH: pluginDir }),
    join(pluginDir, "age-plugin-coffertest"),
  )
  // relative entries would be resolved against the current directory: never searched
  const relative = { PATH: ["", ".", "test/plugin", "plugin"].join(":") }
  assert.equal(findPluginBinary("coffertest", relative), null)
  await assert.rejects(
    identity(1, { ...options, env: relative }).unwrapFileKey([]),
    /not found in PATH/,
  )
})

test("the mixing rule uses the labels the plugin declares", async (t) => {
  const { generateHybridIdentity } = await import("./hybrid.js")
  const { encrypt } = await import("./encrypt.js")
  const { decrypt } = await import("./decrypt.js")
  const hybrid = await generateHybridIdentity().toRecipient()
  const plaintext = new TextEncoder().encode("labels")
  const pq = setup(t, "labels=postquantum")
  const file = await encrypt(plaintext, [recipient(1, pq.options), hybrid])
  assert.deepEqual(await decrypt(file, [identity(1, pq.options)]), plaintext)
  const classic = setup(t)
  await assert.rejects(encrypt(plaintext, [recipient(1, classic.options), hybrid]), {
    name: "IncompatibleRecipientsError",
  })
})

test("keys parsed without options use the defaults set later (as the CLI does)", async (t) => {
  const messages: string[] = []
  const { options } = setup(t, "", { displayMessage: (_p, m) => void messages.push(m) })
  const r = PluginRecipient.fromString(encodePluginRecipient("coffertest", key(6)))
  const i = PluginIdentity.fromString(encodePluginIdentity("coffertest", key(6)))
  t.after(() => {
    setPluginDefaults({})
  })
  setPluginDefaults(options)
  assert.deepEqual(await i.unwrapFileKey(await r.wrapFileKey(FILE_KEY)), FILE_KEY)
  assert.equal(messages.length, 2)
})
