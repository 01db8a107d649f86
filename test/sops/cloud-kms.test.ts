// AWS KMS master keys against the real emulator (local-kms, seeded from a file) and the
// real sops 3.13.2 pointed at the same emulator (docs/formats/sops-cloud-keys.md "AWS
// KMS"): files coffer encrypts decrypt with sops and the other way round, with encryption
// contexts, mixed with age keys, in key groups with Shamir, after rotate and updatekeys;
// decryption goes on to the next key when one is disabled, as sops does; and the errors
// name the key and why.
import { test } from "node:test"
import type { TestContext } from "node:test"
import assert from "node:assert/strict"
import { createServer } from "node:http"
import type { AddressInfo } from "node:net"
import { mkdirSync, readFileSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { parse } from "yaml"
import { runCli } from "../support/cli.js"
import type { RunResult } from "../support/cli.js"
import { requirePeer } from "../support/peers.js"
import { startLocalKms } from "../support/local-kms.js"
import type { LocalKms } from "../support/local-kms.js"
import { tmpTree } from "../support/tmp.js"
import { sopsEnv } from "./sops-env.js"
import { generateX25519Identity } from "../../src/age/x25519.js"

const KEY_A = "0b7c41a0-3b3e-4c5e-9a52-6c1f0a0e0a01"
const KEY_B = "0b7c41a0-3b3e-4c5e-9a52-6c1f0a0e0a02"
const PLAIN = "db:\n    password: hunter2\n    port: 5432\ntoken: t0k3n\n"
const EXPECTED = { db: { password: "hunter2", port: 5432 }, token: "t0k3n" }

interface Setup {
  readonly kms: LocalKms
  readonly sops: string
  readonly dir: string
  /** HOME, no age keys, the emulator's variables. */
  readonly env: Record<string, string | undefined>
  readonly arnA: string
  readonly arnB: string
}

async function setup(t: TestContext, files: Record<string, string> = {}): Promise<Setup | null> {
  const sops = requirePeer(t, "sops")
  const localKms = requirePeer(t, "local-kms")
  if (sops === null || localKms === null) return null
  const kms = await startLocalKms(t, localKms, [
    {
      id: KEY_A,
      backingKey: "5cdaead27fe7da2de47945d73cd6d79e36494e73802f3cd3869f1d2cb0b5d7a9",
      alias: "alias/coffer-a",
    },
    { id: KEY_B, backingKey: "614e645267556b58703273357638792f423f4528472b4b6250655368566d5971" },
  ])
  const dir = tmpTree(t, { "plain.yaml": PLAIN, ...files })
  const env = { ...sopsEnv(t).env, ...kms.env }
  return { kms, sops, dir, env, arnA: kms.arn(KEY_A), arnB: kms.arn(KEY_B) }
}

function decoded(stdout: Buffer): unknown {
  return parse(stdout.toString("utf8"))
}

function sopsSection(text: string): Record<string, unknown> {
  return (parse(text) as { sops: Record<string, unknown> }).sops
}

test("coffer encrypts to a kms rule and sops decrypts it; sops encrypts with a context and coffer decrypts it", async (t) => {
  const s = await setup(t)
  if (s === null) return
  writeFileSync(join(s.dir, ".sops.yaml"), `creation_rules:\n  - kms: ${s.arnA}\n`)
  const enc = await s.kms.coffer(["encrypt", "plain.yaml"], { env: s.env, cwd: s.dir })
  assert.equal(enc.status, 0, enc.stderr)
  assert.equal(enc.stderr, "", "nothing on stderr (no SDK warnings)")
  const text = enc.stdout.toString("utf8")
  const [key] = sopsSection(text)["kms"] as Record<string, unknown>[]
  // spec: sops writes arn, aws_profile (even empty), created_at and enc; role and context only when set
  assert.deepEqual(Object.keys(key ?? {}), ["arn", "aws_profile", "created_at", "enc"])
  assert.equal(key?.["arn"], s.arnA)
  assert.equal(key["aws_profile"], "")
  assert.match(text, /\n {4}kms:\n {8}- arn: arn:aws:kms:/)
  writeFileSync(join(s.dir, "coffer.yaml"), text)
  const bySops = await s.kms.run(s.sops, ["decrypt", "coffer.yaml"], { env: s.env, cwd: s.dir })
  assert.equal(bySops.status, 0, bySops.stderr)
  assert.deepEqual(decoded(bySops.stdout), EXPECTED)

  const sopsEnc = await s.kms.run(
    s.sops,
    ["encrypt", "--kms", s.arnB, "--encryption-context", "app:web,env:prod", "plain.yaml"],
    { env: s.env, cwd: s.dir },
  )
  assert.equal(sopsEnc.status, 0, sopsEnc.stderr)
  const sopsText = sopsEnc.stdout.toString("utf8")
  writeFileSync(join(s.dir, "sops.yaml"), sopsText)
  const byCoffer = await s.kms.coffer(["decrypt", "sops.yaml"], { env: s.env, cwd: s.dir })
  assert.equal(byCoffer.status, 0, byCoffer.stderr)
  assert.deepEqual(decoded(byCoffer.stdout), EXPECTED)

  // the context is part of the ciphertext: another context does not open it
  writeFileSync(join(s.dir, "other-context.yaml"), sopsText.replace("env: prod", "env: dev"))
  const wrong = await s.kms.coffer(["decrypt", "other-context.yaml"], { env: s.env, cwd: s.dir })
  assert.notEqual(wrong.status, 0)
  assert.match(
    wrong.stderr,
    new RegExp(
      `kms ${s.arnB} \\(failed to decrypt the sops data key with AWS KMS: the key does not open this ciphertext \\(InvalidCiphertextException\\)\\)`,
    ),
  )
  assert.match(wrong.stderr, /the encryption context differs/)
})

test("kms and age in one group: each tool opens the file with either key; a context from the rule reaches KMS", async (t) => {
  const identity = generateX25519Identity()
  const s = await setup(t)
  if (s === null) return
  writeFileSync(
    join(s.dir, ".sops.yaml"),
    `creation_rules:\n  - key_groups:\n      - age: [${identity.toRecipient().toString()}]\n        kms:\n          - arn: ${s.arnA}\n            context: {app: coffer}\n`,
  )
  const enc = await s.kms.coffer(["encrypt", "plain.yaml"], { env: s.env, cwd: s.dir })
  assert.equal(enc.status, 0, enc.stderr)
  const text = enc.stdout.toString("utf8")
  const section = sopsSection(text)
  assert.deepEqual((section["kms"] as Record<string, unknown>[])[0]?.["context"], { app: "coffer" })
  writeFileSync(join(s.dir, "mixed.yaml"), text)

  // sops with only KMS credentials (no age key)
  const bySops = await s.kms.run(s.sops, ["decrypt", "mixed.yaml"], { env: s.env, cwd: s.dir })
  assert.equal(bySops.status, 0, bySops.stderr)
  assert.deepEqual(decoded(bySops.stdout), EXPECTED)
  // coffer with only the age key, and no AWS credentials at all: age is tried first
  const ageOnly = {
    ...s.env,
    AWS_ACCESS_KEY_ID: undefined,
    AWS_SECRET_ACCESS_KEY: undefined,
    SOPS_AGE_KEY: identity.encode(),
  }
  const byCoffer = await runCli(["decrypt", join(s.dir, "mixed.yaml")], { env: ageOnly })
  assert.equal(byCoffer.status, 0, byCoffer.stderr)
  assert.deepEqual(decoded(byCoffer.stdout), EXPECTED)
  // and with only KMS
  const kmsOnly = await s.kms.coffer(["decrypt", "mixed.yaml"], { env: s.env, cwd: s.dir })
  assert.equal(kmsOnly.status, 0, kmsOnly.stderr)
})

test("key groups with Shamir 2 of 3 (kms, age, kms with context): both tools open each other's files with any two groups", async (t) => {
  const identity = generateX25519Identity()
  const s = await setup(t)
  if (s === null) return
  writeFileSync(
    join(s.dir, ".sops.yaml"),
    [
      "creation_rules:",
      "  - shamir_threshold: 2",
      "    key_groups:",
      `      - kms: [{arn: ${s.arnA}}]`,
      `      - age: [${identity.toRecipient().toString()}]`,
      `      - kms: [{arn: ${s.arnB}, context: {team: ops}}]`,
      "",
    ].join("\n"),
  )
  const withAge = { ...s.env, SOPS_AGE_KEY: identity.encode() }
  const noKeyB = { ...withAge, SOPS_DECRYPTION_ORDER: "age,kms" }
  for (const [writer, reader] of [
    ["coffer", "sops"],
    ["sops", "coffer"],
  ] as const) {
    const enc: RunResult =
      writer === "coffer"
        ? await s.kms.coffer(["encrypt", "plain.yaml"], { env: s.env, cwd: s.dir })
        : await s.kms.run(s.sops, ["encrypt", "plain.yaml"], { env: s.env, cwd: s.dir })
    assert.equal(enc.status, 0, enc.stderr)
    const file = `${writer}-shamir.yaml`
    writeFileSync(join(s.dir, file), enc.stdout)
    const groups = sopsSection(enc.stdout.toString("utf8"))["key_groups"] as unknown[]
    assert.equal(groups.length, 3)
    for (const env of [s.env, noKeyB]) {
      const out: RunResult =
        reader === "sops"
          ? await s.kms.run(s.sops, ["decrypt", file], { env, cwd: s.dir })
          : await s.kms.coffer(["decrypt", file], { env, cwd: s.dir })
      assert.equal(out.status, 0, `${reader} reading ${writer}'s file: ${out.stderr}`)
      assert.deepEqual(decoded(out.stdout), EXPECTED)
    }
  }
})

test("a disabled kms key: both tools go on to the next key; with every key disabled coffer names each and why", async (t) => {
  const s = await setup(t)
  if (s === null) return
  writeFileSync(join(s.dir, ".sops.yaml"), `creation_rules:\n  - kms: ${s.arnA},${s.arnB}\n`)
  const enc = await s.kms.coffer(["encrypt", "plain.yaml"], { env: s.env, cwd: s.dir })
  assert.equal(enc.status, 0, enc.stderr)
  writeFileSync(join(s.dir, "two.yaml"), enc.stdout)
  const disabled = await s.kms.call("DisableKey", { KeyId: KEY_A })
  assert.equal(disabled.status, 0, disabled.stdout.toString())
  for (const reader of ["coffer", "sops"]) {
    const out: RunResult =
      reader === "sops"
        ? await s.kms.run(s.sops, ["decrypt", "two.yaml"], { env: s.env, cwd: s.dir })
        : await s.kms.coffer(["decrypt", "two.yaml"], { env: s.env, cwd: s.dir })
    assert.equal(out.status, 0, `${reader}: ${out.stderr}`)
    assert.deepEqual(decoded(out.stdout), EXPECTED)
  }
  assert.equal((await s.kms.call("DisableKey", { KeyId: KEY_B })).status, 0)
  const none = await s.kms.coffer(["decrypt", "two.yaml"], { env: s.env, cwd: s.dir })
  assert.equal(none.status, 1, none.stderr)
  for (const arn of [s.arnA, s.arnB]) {
    assert.match(
      none.stderr,
      new RegExp(
        `kms ${arn} \\(failed to decrypt the sops data key with AWS KMS: the key is not usable \\(DisabledException`,
      ),
    )
  }
  assert.match(none.stderr, /hint: enable the key/)
  const json = await s.kms.coffer(["decrypt", "--json", "two.yaml"], { env: s.env, cwd: s.dir })
  const report = JSON.parse(json.stderr) as { error?: { type?: string; hints?: string[] } }
  assert.equal(report.error?.type, "DataKeyError", json.stderr)
  assert.match(report.error.hints?.[0] ?? "", /DisabledException/)
  assert.equal((await s.kms.call("EnableKey", { KeyId: KEY_A })).status, 0)
  assert.equal((await s.kms.coffer(["decrypt", "two.yaml"], { env: s.env, cwd: s.dir })).status, 0)
})

test("rotate and updatekeys keep files that sops reads: a new data key wrapped by KMS, a kms key added by the rule", async (t) => {
  const identity = generateX25519Identity()
  const s = await setup(t)
  if (s === null) return
  writeFileSync(
    join(s.dir, ".sops.yaml"),
    `creation_rules:\n  - age: ${identity.toRecipient().toString()}\n`,
  )
  const withAge = { ...s.env, SOPS_AGE_KEY: identity.encode() }
  const enc = await s.kms.coffer(["encrypt", "plain.yaml"], { env: withAge, cwd: s.dir })
  assert.equal(enc.status, 0, enc.stderr)
  writeFileSync(join(s.dir, "f.yaml"), enc.stdout)
  // the rule now adds a kms key; updatekeys wraps the same data key for it
  writeFileSync(
    join(s.dir, ".sops.yaml"),
    `creation_rules:\n  - age: ${identity.toRecipient().toString()}\n    kms: ${s.arnA}\n`,
  )
  const up = await s.kms.coffer(["updatekeys", "--yes", "f.yaml"], { env: withAge, cwd: s.dir })
  assert.equal(up.status, 0, up.stderr)
  const updated = readFileSync(join(s.dir, "f.yaml"), "utf8")
  assert.equal((sopsSection(updated)["kms"] as unknown[]).length, 1)
  const bySops = await s.kms.run(s.sops, ["decrypt", "f.yaml"], { env: s.env, cwd: s.dir })
  assert.equal(bySops.status, 0, bySops.stderr)
  assert.deepEqual(decoded(bySops.stdout), EXPECTED)
  // rotate with KMS credentials only (no age key): a new data key for both keys
  const rot = await s.kms.coffer(["rotate", "-i", "f.yaml"], { env: s.env, cwd: s.dir })
  assert.equal(rot.status, 0, rot.stderr)
  const rotated = readFileSync(join(s.dir, "f.yaml"), "utf8")
  assert.notEqual(
    (sopsSection(rotated)["kms"] as Record<string, unknown>[])[0]?.["enc"],
    (sopsSection(updated)["kms"] as Record<string, unknown>[])[0]?.["enc"],
  )
  for (const env of [s.env, withAge]) {
    const out = await s.kms.run(s.sops, ["decrypt", "f.yaml"], { env, cwd: s.dir })
    assert.equal(out.status, 0, out.stderr)
    assert.deepEqual(decoded(out.stdout), EXPECTED)
  }
})

const kmsFile = (arn: string): string =>
  [
    "a: ENC[AES256_GCM,data:m/IN1988,iv:eOf2Q6ShseyuSBse5/ya2vA1cfLTSj2xKLRCUMo1MBs=,tag:oiuIr1nai9rUb66eSRQFzA==,type:str]",
    "sops:",
    "    kms:",
    `        - arn: ${arn}`,
    '          aws_profile: ""',
    '          created_at: "2026-12-04T19:04:02Z"',
    "          enc: AQICAHg=",
    '    lastmodified: "2026-12-04T19:04:02Z"',
    "    mac: ENC[AES256_GCM,data:XxT2,iv:WLokEWKwp71nvfVt1yRwTVgyLKLgYpH1nTNYvoWSXX8=,tag:YVwTbR0G0dtoq3DnnJIu3A==,type:str]",
    "    version: 3.13.2",
    "",
  ].join("\n")

test("no AWS credentials: the error names the key and every place coffer looked", async (t) => {
  const arn = "arn:aws:kms:eu-west-2:111122223333:key/0b7c41a0-3b3e-4c5e-9a52-6c1f0a0e0a01"
  const dir = tmpTree(t, { "f.yaml": kmsFile(arn) })
  const { env, home } = sopsEnv(t, [], { AWS_EC2_METADATA_DISABLED: "true" })
  for (const name of Object.keys(process.env))
    if (name.startsWith("AWS_") && name !== "AWS_EC2_METADATA_DISABLED") env[name] = undefined
  const r = await runCli(["decrypt", join(dir, "f.yaml")], { env })
  assert.equal(r.status, 1, r.stderr)
  assert.match(
    r.stderr,
    new RegExp(
      `kms ${arn} \\(failed to decrypt the sops data key with AWS KMS: no AWS credentials found\\)`,
    ),
  )
  assert.match(r.stderr, /hint: {3}the environment: AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY/)
  assert.match(
    r.stderr,
    new RegExp(`profile "default" in ${home}/\\.aws/credentials and ${home}/\\.aws/config`),
  )
  assert.match(r.stderr, /EC2 instance metadata: skipped \(AWS_EC2_METADATA_DISABLED=true\)/)
  assert.doesNotMatch(r.stderr, /provide an age identity/)
})

test("KMS refusing: access denied, an unknown key and a pending deletion are told apart", async (t) => {
  const arn = "arn:aws:kms:eu-west-2:111122223333:key/0b7c41a0-3b3e-4c5e-9a52-6c1f0a0e0a01"
  let answer = {
    type: "AccessDeniedException",
    message: "User is not authorized to perform kms:Decrypt",
  }
  const seen: string[] = []
  // a loopback stand-in for the one failing call, answering as KMS's JSON protocol does
  const server = createServer((req, res) => {
    seen.push(String(req.headers["x-amz-target"]))
    req.resume()
    req.on("end", () => {
      res.writeHead(400, {
        "content-type": "application/x-amz-json-1.1",
        "x-amzn-errortype": answer.type,
      })
      res.end(JSON.stringify({ __type: answer.type, message: answer.message }))
    })
  })
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve))
  t.after(
    () =>
      new Promise<void>((resolve) =>
        server.close(() => {
          resolve()
        }),
      ),
  )
  const port = (server.address() as AddressInfo).port
  const dir = tmpTree(t, { "f.yaml": kmsFile(arn) })
  const env = {
    ...sopsEnv(t).env,
    AWS_ENDPOINT_URL: `http://127.0.0.1:${String(port)}`,
    AWS_ACCESS_KEY_ID: "AKIDCOFFERTEST",
    AWS_SECRET_ACCESS_KEY: "coffer-test-secret",
    AWS_EC2_METADATA_DISABLED: "true",
  }
  const cases = [
    {
      type: "AccessDeniedException",
      message: "User is not authorized to perform kms:Decrypt",
      expect: /access denied \(AccessDeniedException: User is not authorized/,
    },
    {
      type: "NotFoundException",
      message: "Key 'x' does not exist",
      expect: /no such key \(Key 'x' does not exist\)/,
    },
    {
      type: "KMSInvalidStateException",
      message: "is pending deletion",
      expect: /the key is not usable \(KMSInvalidStateException: is pending deletion\)/,
    },
  ]
  for (const c of cases) {
    answer = c
    const r = await runCli(["decrypt", join(dir, "f.yaml")], { env })
    assert.equal(r.status, 1, r.stderr)
    assert.match(r.stderr, c.expect)
    assert.match(r.stderr, new RegExp(`kms ${arn}`))
  }
  assert.ok(
    seen.every((s) => s === "TrentService.Decrypt"),
    seen.join(","),
  )
})

test("--kms, SOPS_KMS_ARN, --aws-profile and --encryption-context write what sops writes, and sops reads it", async (t) => {
  const s = await setup(t)
  if (s === null) return
  // a profile in a credentials file, and no keys in the environment
  const awsDir = join(String(s.env["HOME"]), ".aws")
  mkdirSync(awsDir)
  writeFileSync(
    join(awsDir, "credentials"),
    "[ci]\naws_access_key_id = AKIDPROFILE\naws_secret_access_key = profile-secret\n",
  )
  const profileEnv = { ...s.env, AWS_ACCESS_KEY_ID: undefined, AWS_SECRET_ACCESS_KEY: undefined }
  const flags = ["--kms", s.arnA, "--aws-profile", "ci", "--encryption-context", "app:web,env:prod"]
  const byCoffer = await s.kms.coffer(["encrypt", ...flags, "plain.yaml"], {
    env: profileEnv,
    cwd: s.dir,
  })
  assert.equal(byCoffer.status, 0, byCoffer.stderr)
  const bySops = await s.kms.run(s.sops, ["encrypt", ...flags, "plain.yaml"], {
    env: profileEnv,
    cwd: s.dir,
  })
  assert.equal(bySops.status, 0, bySops.stderr)
  const fieldsOf = (out: RunResult): unknown => {
    const [key] = sopsSection(out.stdout.toString("utf8"))["kms"] as Record<string, unknown>[]
    return { ...key, enc: typeof key?.["enc"], created_at: typeof key?.["created_at"] }
  }
  assert.deepEqual(fieldsOf(byCoffer), fieldsOf(bySops))
  assert.deepEqual(fieldsOf(byCoffer), {
    arn: s.arnA,
    aws_profile: "ci",
    context: { app: "web", env: "prod" },
    created_at: "string",
    enc: "string",
  })
  writeFileSync(join(s.dir, "profile.yaml"), byCoffer.stdout)
  const read = await s.kms.run(s.sops, ["decrypt", "profile.yaml"], { env: profileEnv, cwd: s.dir })
  assert.equal(read.status, 0, read.stderr)
  assert.deepEqual(decoded(read.stdout), EXPECTED)

  // SOPS_KMS_ARN, two keys; a rule's keys do not take --encryption-context (sops encrypt)
  const fromEnv = await s.kms.coffer(["encrypt", "plain.yaml"], {
    env: { ...s.env, SOPS_KMS_ARN: `${s.arnA}, ${s.arnB}` },
    cwd: s.dir,
  })
  assert.equal(fromEnv.status, 0, fromEnv.stderr)
  assert.equal((sopsSection(fromEnv.stdout.toString("utf8"))["kms"] as unknown[]).length, 2)
  writeFileSync(join(s.dir, ".sops.yaml"), `creation_rules:\n  - kms: ${s.arnB}\n`)
  const ruled: Record<string, unknown>[] = []
  for (const tool of ["coffer", "sops"]) {
    const args = ["encrypt", "--encryption-context", "team:ops", "plain.yaml"]
    const out: RunResult =
      tool === "coffer"
        ? await s.kms.coffer(args, { env: s.env, cwd: s.dir })
        : await s.kms.run(s.sops, args, { env: s.env, cwd: s.dir })
    assert.equal(out.status, 0, out.stderr)
    ruled.push(
      (sopsSection(out.stdout.toString("utf8"))["kms"] as Record<string, unknown>[])[0] ?? {},
    )
  }
  assert.equal(ruled[1]?.["context"], undefined)
  assert.deepEqual(Object.keys(ruled[0] ?? {}), Object.keys(ruled[1] ?? {}))
  const bad = await s.kms.coffer(
    ["encrypt", "--kms", s.arnA, "--encryption-context", "app", "plain.yaml"],
    {
      env: s.env,
      cwd: s.dir,
    },
  )
  assert.equal(bad.status, 2, bad.stderr)
  assert.match(bad.stderr, /invalid KMS encryption context format "app"/)
})

test("rotate --add-kms/--rm-kms and groups add --kms: sops reads the results", async (t) => {
  const identity = generateX25519Identity()
  const s = await setup(t)
  if (s === null) return
  const withAge = { ...s.env, SOPS_AGE_KEY: identity.encode() }
  const enc = await s.kms.coffer(["encrypt", "--kms", s.arnA, "plain.yaml"], {
    env: s.env,
    cwd: s.dir,
  })
  assert.equal(enc.status, 0, enc.stderr)
  writeFileSync(join(s.dir, "f.yaml"), enc.stdout)
  const rot = await s.kms.coffer(
    ["rotate", "-i", "--add-kms", s.arnB, "--rm-kms", s.arnA, "f.yaml"],
    { env: s.env, cwd: s.dir },
  )
  assert.equal(rot.status, 0, rot.stderr)
  const rotated = sopsSection(readFileSync(join(s.dir, "f.yaml"), "utf8"))
  assert.deepEqual(
    (rotated["kms"] as Record<string, unknown>[]).map((k) => k["arn"]),
    [s.arnB],
  )
  // key A can no longer open it, for sops either
  assert.equal((await s.kms.call("DisableKey", { KeyId: KEY_B })).status, 0)
  const withoutB = await s.kms.run(s.sops, ["decrypt", "f.yaml"], { env: s.env, cwd: s.dir })
  assert.notEqual(withoutB.status, 0)
  assert.equal((await s.kms.call("EnableKey", { KeyId: KEY_B })).status, 0)
  const bySops = await s.kms.run(s.sops, ["decrypt", "f.yaml"], { env: s.env, cwd: s.dir })
  assert.equal(bySops.status, 0, bySops.stderr)

  // a second group of one age key: now both groups are needed (Shamir 2 of 2)
  const add = await s.kms.coffer(
    ["groups", "add", "--file", "f.yaml", "-i", "--age", identity.toRecipient().toString()],
    { env: s.env, cwd: s.dir },
  )
  assert.equal(add.status, 0, add.stderr)
  const add2 = await s.kms.coffer(
    [
      "groups",
      "add",
      "--file",
      "f.yaml",
      "-i",
      "--kms",
      s.arnA,
      "--encryption-context",
      "k:v",
      "--shamir-secret-sharing-threshold",
      "2",
    ],
    { env: withAge, cwd: s.dir },
  )
  assert.equal(add2.status, 0, add2.stderr)
  const groups = sopsSection(readFileSync(join(s.dir, "f.yaml"), "utf8"))["key_groups"] as Record<
    string,
    unknown
  >[]
  assert.equal(groups.length, 3)
  assert.deepEqual((groups[2]?.["kms"] as Record<string, unknown>[])[0]?.["context"], { k: "v" })
  for (const env of [s.env, withAge]) {
    const out = await s.kms.run(s.sops, ["decrypt", "f.yaml"], { env, cwd: s.dir })
    assert.equal(out.status, 0, out.stderr)
    assert.deepEqual(decoded(out.stdout), EXPECTED)
  }
})
