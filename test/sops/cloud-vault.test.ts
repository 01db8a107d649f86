// Vault transit master keys against a stand-in of Vault's documented transit API on
// loopback, with the real sops 3.13.2 run against the same stand-in
// (docs/formats/sops-cloud-keys.md "Vault transit"): each tool decrypts the other's files,
// both send the same requests, the token comes from VAULT_TOKEN or ~/.vault-token, and
// errors say which key failed and why.
import { test } from "node:test"
import type { TestContext } from "node:test"
import assert from "node:assert/strict"
import { writeFileSync } from "node:fs"
import { join } from "node:path"
import { parse } from "yaml"
import { runCofferOr } from "../support/cli.js"
import type { RunResult } from "../support/cli.js"
import { requirePeer } from "../support/peers.js"
import { startVaultStandIn } from "../support/vault-transit.js"
import type { VaultStandIn } from "../support/vault-transit.js"
import { tmpTree } from "../support/tmp.js"
import { sopsEnv } from "./sops-env.js"
import { generateX25519Identity } from "../../src/age/x25519.js"

const PLAIN = "db:\n    password: hunter2\ntoken: t0k3n\n"
const EXPECTED = { db: { password: "hunter2" }, token: "t0k3n" }

interface Setup {
  readonly vault: VaultStandIn
  readonly sops: string
  readonly dir: string
  readonly home: string
  readonly env: Record<string, string | undefined>
  readonly uri: string
}

async function setup(t: TestContext): Promise<Setup | null> {
  const sops = requirePeer(t, "sops")
  if (sops === null) return null
  const vault = await startVaultStandIn(t)
  const dir = tmpTree(t, { "plain.yaml": PLAIN })
  const { env, home } = sopsEnv(t)
  Object.assign(env, {
    VAULT_TOKEN: vault.token,
    VAULT_ADDR: undefined,
    VAULT_NAMESPACE: undefined,
  })
  return { vault, sops, dir, home, env, uri: `${vault.address}/v1/transit/keys/coffer` }
}

function run(
  s: Setup,
  tool: "coffer" | "sops",
  args: readonly string[],
  env = s.env,
): Promise<RunResult> {
  return runCofferOr(tool, s.sops, args, { env, cwd: s.dir })
}

test("hc_vault: coffer and sops decrypt each other's files, write the same fields and send the same requests", async (t) => {
  const s = await setup(t)
  if (s === null) return
  const fields: unknown[] = []
  for (const [writer, reader] of [
    ["coffer", "sops"],
    ["sops", "coffer"],
  ] as const) {
    s.vault.requests.length = 0
    const enc = await run(s, writer, ["encrypt", "--hc-vault-transit", s.uri, "plain.yaml"])
    assert.equal(enc.status, 0, enc.stderr)
    assert.deepEqual(s.vault.requests, ["PUT /v1/transit/encrypt/coffer plaintext"])
    const section = (parse(enc.stdout.toString("utf8")) as { sops: Record<string, unknown> }).sops
    const [key] = section["hc_vault"] as Record<string, unknown>[]
    assert.match(String(key?.["enc"]), /^vault:v1:/)
    fields.push({ ...key, enc: "…", created_at: typeof key?.["created_at"] })
    writeFileSync(join(s.dir, `${writer}.yaml`), enc.stdout)
    s.vault.requests.length = 0
    const dec = await run(s, reader, ["decrypt", `${writer}.yaml`])
    assert.equal(dec.status, 0, `${reader} reading ${writer}'s file: ${dec.stderr}`)
    assert.deepEqual(parse(dec.stdout.toString("utf8")), EXPECTED)
    assert.deepEqual(s.vault.requests, ["PUT /v1/transit/decrypt/coffer ciphertext"])
  }
  assert.deepEqual(fields[0], fields[1])
  assert.deepEqual(fields[0], {
    vault_address: s.vault.address,
    engine_path: "transit",
    key_name: "coffer",
    created_at: "string",
    enc: "…",
  })
})

test("hc_vault in a rule with age: the token from ~/.vault-token; denied and missing tokens are told apart", async (t) => {
  const identity = generateX25519Identity()
  const s = await setup(t)
  if (s === null) return
  writeFileSync(
    join(s.dir, ".sops.yaml"),
    `creation_rules:\n  - hc_vault_transit_uri: ${s.uri}\n    age: ${identity.toRecipient().toString()}\n`,
  )
  writeFileSync(join(s.home, ".vault-token"), `${s.vault.token}\n`)
  const fileToken = { ...s.env, VAULT_TOKEN: undefined }
  const enc = await run(s, "coffer", ["encrypt", "plain.yaml"], fileToken)
  assert.equal(enc.status, 0, enc.stderr)
  writeFileSync(join(s.dir, "f.yaml"), enc.stdout)
  const bySops = await run(s, "sops", ["decrypt", "f.yaml"], fileToken)
  assert.equal(bySops.status, 0, bySops.stderr)
  assert.deepEqual(parse(bySops.stdout.toString("utf8")), EXPECTED)

  s.vault.denied.add("transit/decrypt/coffer")
  const denied = await run(s, "coffer", ["decrypt", "f.yaml"], fileToken)
  assert.equal(denied.status, 1)
  assert.match(
    denied.stderr,
    new RegExp(
      `hc_vault ${s.vault.address}/transit/coffer \\(failed to decrypt the sops data key with Vault transit backend 'transit/decrypt/coffer': access denied \\(HTTP 403`,
    ),
  )
  // the age key still opens it: decryption goes on to the next key
  const withAge = await run(s, "coffer", ["decrypt", "f.yaml"], {
    ...fileToken,
    SOPS_AGE_KEY: identity.encode(),
  })
  assert.equal(withAge.status, 0, withAge.stderr)

  const noToken = await run(s, "coffer", ["decrypt", "f.yaml"], { ...fileToken, HOME: s.dir })
  assert.equal(noToken.status, 1)
  assert.match(noToken.stderr, /no Vault token found/)
  assert.match(noToken.stderr, /hint: {3}VAULT_TOKEN/)
  const badUri = await run(s, "coffer", [
    "encrypt",
    "--hc-vault-transit",
    "vault.example.com/v1/transit/keys/x",
    "plain.yaml",
  ])
  assert.equal(badUri.status, 2, badUri.stderr)
})
