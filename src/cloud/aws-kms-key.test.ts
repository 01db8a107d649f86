// AWS KMS keys as text, as sops 3.13.2 reads and writes them (docs/formats/sops-cloud-keys.md
// "AWS KMS"): --kms lists with roles, --encryption-context, ToString for --rm-kms, the
// region from the ARN and the STS session name.
import { test } from "node:test"
import assert from "node:assert/strict"
import {
  kmsKeyFromArn,
  kmsKeysFromArnList,
  kmsKeyString,
  parseKmsContext,
  regionOfKmsArn,
  stsSessionName,
} from "./aws-kms-key.js"

const ARN = "arn:aws:kms:eu-west-2:111122223333:key/0b7c41a0"
const ROLE = "arn:aws:iam::111122223333:role/sops"

test("--kms entries: spaces removed, ARN+arn:… names a role, commas separate keys", () => {
  assert.deepEqual(kmsKeyFromArn(` ${ARN} + ${ROLE}`, undefined, "").fields, {
    arn: ARN,
    role: ROLE,
    aws_profile: "",
  })
  const keys = kmsKeysFromArnList(`${ARN},${ARN}+${ROLE}`, { app: "web" }, "dev")
  assert.equal(keys.length, 2)
  assert.deepEqual(keys[1]?.fields, {
    arn: ARN,
    role: ROLE,
    context: { app: "web" },
    aws_profile: "dev",
  })
  assert.deepEqual(kmsKeysFromArnList("", undefined, ""), [])
})

test("--encryption-context: name:value pairs; one malformed pair drops the whole context", () => {
  assert.deepEqual(parseKmsContext("app:web,env:prod"), { app: "web", env: "prod" })
  assert.equal(parseKmsContext(""), undefined)
  assert.equal(parseKmsContext("app:web,env"), undefined)
  assert.equal(parseKmsContext("a:b:c"), undefined)
})

test("ToString (what --rm-kms matches): ARN[+ROLE][|CONTEXT sorted[|PROFILE]]", () => {
  assert.equal(kmsKeyString({ fields: { arn: ARN, aws_profile: "" } }), ARN)
  assert.equal(
    kmsKeyString({ fields: { arn: ARN, role: ROLE, context: { z: "1", a: "2" } } }),
    `${ARN}+${ROLE}|a:2,z:1`,
  )
  assert.equal(kmsKeyString({ fields: { arn: ARN, aws_profile: "dev" } }), `${ARN}||dev`)
})

test("the region comes from the ARN; other forms are not KMS ARNs", () => {
  assert.equal(regionOfKmsArn(ARN), "eu-west-2")
  assert.equal(regionOfKmsArn("arn:aws-us-gov:kms:us-gov-west-1:1:alias/x"), "us-gov-west-1")
  assert.equal(regionOfKmsArn("0b7c41a0"), undefined)
  assert.equal(regionOfKmsArn("arn:aws:s3:::bucket"), undefined)
})

test("STS session name: sops@ and the sanitised host name, at most 64 characters", () => {
  // spec: in sops's class "@-_" is a range, so '-' itself is removed while '[' and '^' stay
  assert.equal(stsSessionName("build-01.example.com"), "sops@build01.example.com")
  assert.equal(stsSessionName("my host!~[x]^"), "sops@myhost[x]^")
  assert.equal(stsSessionName("h".repeat(100)).length, 64)
})
