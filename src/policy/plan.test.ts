// Unit tests for planning key updates (docs/formats/sops.md "Commands" updatekeys).
import { test } from "node:test"
import assert from "node:assert/strict"
import type { KeyGroup } from "../sops/metadata.js"
import { describeKeyUpdate, planKeyUpdate } from "./plan.js"

const group = (age: string[], pgp: string[] = [], opaque: KeyGroup["opaque"] = {}): KeyGroup => ({
  age: age.map((recipient) => ({ recipient, enc: "x" })),
  pgp: pgp.map((fp) => ({ fp, createdAt: "2024-01-01T00:00:00Z", enc: "x" })),
  opaque,
})

test("same keys in another order, spacing or case: unchanged", () => {
  const plan = planKeyUpdate(
    [group(["age1a", "age1b"], ["fbc7b9e2a4f9289ac0c1d4843d16cee4a27381b4"])],
    0,
    [{ age: ["age1b", " age1a"], pgp: ["FBC7 B9E2 A4F9 289A C0C1 D484 3D16 CEE4 A273 81B4"] }],
  )
  assert.equal(plan.unchanged, true)
  assert.deepEqual(describeKeyUpdate(plan), [])
  assert.equal(plan.groups[0]?.kept.length, 3)
})

test("added and removed recipients per group, by position", () => {
  const plan = planKeyUpdate([group(["age1admin"]), group(["age1old"])], 2, [
    { age: ["age1admin", "age1dao"], pgp: [] },
    { age: ["age1new"], pgp: [] },
  ])
  assert.equal(plan.unchanged, false)
  assert.deepEqual(
    plan.groups[0]?.added.map((k) => k.id),
    ["age1dao"],
  )
  assert.deepEqual(plan.groups[0].removed, [])
  assert.deepEqual(
    plan.groups[1]?.added.map((k) => k.id),
    ["age1new"],
  )
  assert.deepEqual(
    plan.groups[1].removed.map((k) => k.id),
    ["age1old"],
  )
  assert.deepEqual(describeKeyUpdate(plan), [
    "key group 1:",
    "  + age age1dao",
    "key group 2:",
    "  + age age1new",
    "  - age age1old",
  ])
})

test("a group disappearing or appearing is a change; the threshold is capped", () => {
  const plan = planKeyUpdate([group(["a"]), group(["b"]), group(["c"])], 3, [
    { age: ["a"], pgp: [] },
    { age: ["b"], pgp: [] },
  ])
  assert.equal(plan.unchanged, false)
  assert.deepEqual(
    plan.groups[2]?.removed.map((k) => k.id),
    ["c"],
  )
  assert.equal(plan.thresholdAfter, 2)
})

test("threshold only: a change; 0 and 'all groups' are the same", () => {
  const groups = [group(["a"]), group(["b"]), group(["c"])]
  const wanted = [
    { age: ["a"], pgp: [] },
    { age: ["b"], pgp: [] },
    { age: ["c"], pgp: [] },
  ]
  assert.equal(planKeyUpdate(groups, 3, wanted, 2).unchanged, false)
  assert.deepEqual(describeKeyUpdate(planKeyUpdate(groups, 3, wanted, 2)), [
    "shamir threshold: 3 -> 2",
  ])
  assert.equal(planKeyUpdate(groups, 3, wanted, 0).unchanged, true)
  assert.equal(planKeyUpdate(groups, 3, wanted).unchanged, true)
})

test("cloud keys compare by their naming fields, not enc or created_at", () => {
  const file = group([], [], {
    kms: [
      {
        fields: {
          arn: "arn1",
          role: "r",
          created_at: "2024-01-01T00:00:00Z",
          enc: "zzz",
          aws_profile: "",
        },
      },
    ],
  })
  const same = planKeyUpdate([file], 0, [
    { age: [], pgp: [], opaque: { kms: [{ fields: { arn: "arn1", role: "r" } }] } },
  ])
  assert.equal(same.unchanged, true)
  const other = planKeyUpdate([file], 0, [
    { age: [], pgp: [], opaque: { kms: [{ fields: { arn: "arn1" } }] } },
  ])
  assert.equal(other.unchanged, false)
  assert.deepEqual(describeKeyUpdate(other), ["+ kms arn1", "- kms arn1"])
})
