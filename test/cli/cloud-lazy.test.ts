// The cloud SDKs load only for files that have cloud keys (docs/formats/sops-cloud-keys.md
// "Loading"): a module hook records every import `coffer decrypt` resolves; an age-only
// file resolves no @aws-sdk module, a file with a kms key does.
import { test } from "node:test"
import assert from "node:assert/strict"
import { readFileSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { runCli } from "../support/cli.js"
import { tmpTree } from "../support/tmp.js"
import { sopsEnv } from "../sops/sops-env.js"
import { generateX25519Identity } from "../../src/age/x25519.js"

const kmsFile = [
  "a: ENC[AES256_GCM,data:m/IN1988,iv:eOf2Q6ShseyuSBse5/ya2vA1cfLTSj2xKLRCUMo1MBs=,tag:oiuIr1nai9rUb66eSRQFzA==,type:str]",
  "sops:",
  "    kms:",
  "        - arn: arn:aws:kms:eu-west-2:111122223333:key/0b7c41a0-3b3e-4c5e-9a52-6c1f0a0e0a01",
  '          aws_profile: ""',
  '          created_at: "2026-12-04T19:04:02Z"',
  "          enc: AQICAHg=",
  '    lastmodified: "2026-12-04T19:04:02Z"',
  "    mac: ENC[AES256_GCM,data:XxT2,iv:WLokEWKwp71nvfVt1yRwTVgyLKLgYpH1nTNYvoWSXX8=,tag:YVwTbR0G0dtoq3DnnJIu3A==,type:str]",
  "    version: 3.13.2",
  "",
].join("\n")

test("coffer decrypt on an age-only file imports no cloud SDK; on a kms file it does", async (t) => {
  const identity = generateX25519Identity()
  const dir = tmpTree(t, {
    "plain.yaml": "token: t0k3n\n",
    "kms.yaml": kmsFile,
    "hooks.mjs":
      'import { appendFileSync } from "node:fs"\nexport async function resolve(specifier, context, next) {\n  appendFileSync(process.env.COFFER_TEST_IMPORTS, specifier + "\\n")\n  return next(specifier, context)\n}\n',
    "register.mjs":
      'import { register } from "node:module"\nregister(new URL("./hooks.mjs", import.meta.url))\n',
  })
  const log = join(dir, "imports.txt")
  const { env } = sopsEnv(t, [], { AWS_EC2_METADATA_DISABLED: "true" })
  for (const name of Object.keys(process.env)) {
    if (name.startsWith("AWS_") && name !== "AWS_EC2_METADATA_DISABLED") env[name] = undefined
  }
  const enc = await runCli(
    ["encrypt", "--age", identity.toRecipient().toString(), join(dir, "plain.yaml")],
    { env },
  )
  assert.equal(enc.status, 0, enc.stderr)
  writeFileSync(join(dir, "age.yaml"), enc.stdout)
  const traced = {
    ...env,
    SOPS_AGE_KEY: identity.encode(),
    COFFER_TEST_IMPORTS: log,
    NODE_OPTIONS: `--import ${join(dir, "register.mjs")}`,
  }

  writeFileSync(log, "")
  const age = await runCli(["decrypt", join(dir, "age.yaml")], { env: traced })
  assert.equal(age.status, 0, age.stderr)
  const ageImports = readFileSync(log, "utf8").split("\n")
  assert.ok(ageImports.length > 3, "the hook saw the command's own imports")
  assert.deepEqual(
    ageImports.filter(
      (s) =>
        s.includes("@aws-sdk") ||
        s.includes("aws-kms") ||
        s.includes("google-auth-library") ||
        s.includes("gcp-kms"),
    ),
    [],
  )

  writeFileSync(log, "")
  const kms = await runCli(["decrypt", join(dir, "kms.yaml")], { env: traced })
  assert.equal(kms.status, 1, kms.stderr)
  assert.match(kms.stderr, /no AWS credentials found/)
  assert.ok(readFileSync(log, "utf8").includes("@aws-sdk/client-kms"))
})
