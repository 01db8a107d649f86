// GCP KMS master keys against a stand-in of Cloud KMS's REST API on loopback (the
// emulator's module is not served by the Go module proxy here), with the real sops 3.13.2
// pointed at the same stand-in through SOPS_GCP_KMS_ENDPOINT and its REST client
// (docs/formats/sops-cloud-keys.md "GCP KMS"): each tool decrypts the other's files,
// both send the same requests, decryption goes past a disabled key, and errors say why.
import { test } from "node:test"
import type { TestContext } from "node:test"
import assert from "node:assert/strict"
import { writeFileSync } from "node:fs"
import { join } from "node:path"
import { parse } from "yaml"
import { runCofferOr } from "../support/cli.js"
import type { RunResult } from "../support/cli.js"
import { requirePeer } from "../support/peers.js"
import { startGcpKmsStandIn } from "../support/gcp-kms.js"
import type { GcpKmsStandIn } from "../support/gcp-kms.js"
import { tmpTree } from "../support/tmp.js"
import { sopsEnv } from "./sops-env.js"
import { generateX25519Identity } from "../../src/age/x25519.js"

const PLAIN = "db:\n    password: hunter2\ntoken: t0k3n\n"
const EXPECTED = { db: { password: "hunter2" }, token: "t0k3n" }

interface Setup {
  readonly gcp: GcpKmsStandIn
  readonly sops: string
  readonly dir: string
  readonly env: Record<string, string | undefined>
  readonly k1: string
  readonly k2: string
}

async function setup(t: TestContext): Promise<Setup | null> {
  const sops = requirePeer(t, "sops")
  if (sops === null) return null
  const gcp = await startGcpKmsStandIn(t)
  const dir = tmpTree(t, { "plain.yaml": PLAIN })
  const env = {
    ...sopsEnv(t).env,
    SOPS_GCP_KMS_ENDPOINT: gcp.endpoint,
    SOPS_GCP_KMS_CLIENT_TYPE: "rest",
    GOOGLE_OAUTH_ACCESS_TOKEN: gcp.token,
    GOOGLE_CREDENTIALS: undefined,
    GOOGLE_APPLICATION_CREDENTIALS: undefined,
    METADATA_SERVER_DETECTION: "none",
  }
  return { gcp, sops, dir, env, k1: gcp.addKey("k1"), k2: gcp.addKey("k2") }
}

function sopsSection(out: RunResult): Record<string, unknown> {
  return (parse(out.stdout.toString("utf8")) as { sops: Record<string, unknown> }).sops
}

function run(
  s: Setup,
  tool: "coffer" | "sops",
  args: readonly string[],
  env = s.env,
): Promise<RunResult> {
  return runCofferOr(tool, s.sops, args, { env, cwd: s.dir })
}

test("gcp_kms: coffer and sops decrypt each other's files and send the same requests", async (t) => {
  const s = await setup(t)
  if (s === null) return
  const files: Record<string, unknown>[] = []
  for (const [writer, reader] of [
    ["coffer", "sops"],
    ["sops", "coffer"],
  ] as const) {
    s.gcp.requests.length = 0
    const enc = await run(s, writer, ["encrypt", "--gcp-kms", s.k1, "plain.yaml"])
    assert.equal(enc.status, 0, enc.stderr)
    const encryptRequests: string[] = [...s.gcp.requests]
    const [key] = sopsSection(enc)["gcp_kms"] as Record<string, unknown>[]
    files.push({ ...key, enc: typeof key?.["enc"], created_at: typeof key?.["created_at"] })
    writeFileSync(join(s.dir, `${writer}.yaml`), enc.stdout)
    s.gcp.requests.length = 0
    const dec = await run(s, reader, ["decrypt", `${writer}.yaml`])
    assert.equal(dec.status, 0, `${reader} reading ${writer}'s file: ${dec.stderr}`)
    assert.deepEqual(parse(dec.stdout.toString("utf8")), EXPECTED)
    assert.deepEqual(encryptRequests, [`POST /v1/${s.k1}:encrypt name,plaintext`])
    assert.deepEqual(s.gcp.requests, [`POST /v1/${s.k1}:decrypt ciphertext,name`])
  }
  assert.deepEqual(files[0], files[1])
  assert.deepEqual(files[0], { resource_id: s.k1, created_at: "string", enc: "string" })
})

test("gcp_kms with age in Shamir groups from .sops.yaml; a disabled key falls through to the next", async (t) => {
  const identity = generateX25519Identity()
  const s = await setup(t)
  if (s === null) return
  writeFileSync(
    join(s.dir, ".sops.yaml"),
    [
      "creation_rules:",
      "  - shamir_threshold: 2",
      "    key_groups:",
      `      - gcp_kms: [{resource_id: ${s.k1}}, {resource_id: ${s.k2}}]`,
      `      - age: [${identity.toRecipient().toString()}]`,
      "",
    ].join("\n"),
  )
  const withAge = { ...s.env, SOPS_AGE_KEY: identity.encode() }
  for (const [writer, reader] of [
    ["coffer", "sops"],
    ["sops", "coffer"],
  ] as const) {
    s.gcp.setState(s.k1, "ENABLED")
    const enc = await run(s, writer, ["encrypt", "plain.yaml"])
    assert.equal(enc.status, 0, enc.stderr)
    writeFileSync(join(s.dir, "groups.yaml"), enc.stdout)
    s.gcp.setState(s.k1, "DISABLED")
    const dec = await run(s, reader, ["decrypt", "groups.yaml"], withAge)
    assert.equal(dec.status, 0, `${reader} reading ${writer}'s file: ${dec.stderr}`)
    assert.deepEqual(parse(dec.stdout.toString("utf8")), EXPECTED)
  }
  // with both gcp keys disabled the first group cannot be opened: coffer names each key and why
  s.gcp.setState(s.k2, "DISABLED")
  const missing = await run(s, "coffer", ["decrypt", "groups.yaml"], withAge)
  assert.equal(missing.status, 1)
  for (const id of [s.k1, s.k2]) {
    assert.match(
      missing.stderr,
      new RegExp(
        `gcp_kms ${id} \\(failed to decrypt the sops data key with GCP KMS: the key is not usable \\(FAILED_PRECONDITION`,
      ),
    )
  }
  assert.match(missing.stderr, /1 of the 2 key groups needed/)
})

test("gcp_kms errors: access denied, an unknown key, a bad token and no credentials are told apart", async (t) => {
  const s = await setup(t)
  if (s === null) return
  const enc = await run(s, "coffer", ["encrypt", "--gcp-kms", s.k1, "plain.yaml"])
  assert.equal(enc.status, 0, enc.stderr)
  writeFileSync(join(s.dir, "f.yaml"), enc.stdout)
  s.gcp.setState(s.k1, "DENIED")
  const denied = await run(s, "coffer", ["decrypt", "f.yaml"])
  assert.equal(denied.status, 1)
  assert.match(
    denied.stderr,
    /access denied \(PERMISSION_DENIED: Permission 'cloudkms\.cryptoKeyVersions\.useToDecrypt' denied/,
  )
  const unknown = await run(s, "coffer", ["encrypt", "--gcp-kms", `${s.k1}x`, "plain.yaml"])
  assert.equal(unknown.status, 1)
  assert.match(unknown.stderr, /no such key \(NOT_FOUND/)
  const badToken = await run(s, "coffer", ["decrypt", "f.yaml"], {
    ...s.env,
    GOOGLE_OAUTH_ACCESS_TOKEN: "wrong",
  })
  assert.match(badToken.stderr, /access denied \(UNAUTHENTICATED/)
  const none = await run(s, "coffer", ["decrypt", "f.yaml"], {
    ...s.env,
    GOOGLE_OAUTH_ACCESS_TOKEN: undefined,
  })
  assert.equal(none.status, 1)
  assert.match(none.stderr, /no Google credentials found/)
  assert.match(none.stderr, /hint: {3}GOOGLE_OAUTH_ACCESS_TOKEN/)
  const badId = await run(s, "coffer", ["encrypt", "--gcp-kms", "projects/x", "plain.yaml"])
  assert.match(badId.stderr, /no valid resource ID found in "projects\/x"/)
})
