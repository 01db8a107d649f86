// An independent implementation reads what coffer writes: `sops-age` 4.0.2 from npm (its own
// YAML/JSON/dotenv parsing, AES-GCM, and typage for age; see docs/formats/sops.md "Other implementations")
// decrypts files made by `coffer encrypt` with an age recipient.
import { test } from "node:test"
import assert from "node:assert/strict"
import { join } from "node:path"
import { decryptSops } from "sops-age"
import { runCli } from "../support/cli.js"
import { tmpTree } from "../support/tmp.js"
import { sopsEnv } from "./sops-env.js"
import { generateX25519Identity } from "../../src/age/x25519.js"

const cases: readonly {
  name: string
  text: string
  fileType: "yaml" | "json" | "env"
  expected: unknown
}[] = [
  {
    name: "app.yaml",
    fileType: "yaml",
    text: "db:\n    user: admin\n    password: hunter2\n    port: 5432\n    ratio: 0.25\n    enabled: false\nhosts:\n    - a.example\n    - b.example\nnote_unencrypted: clear\n",
    expected: {
      db: { user: "admin", password: "hunter2", port: 5432, ratio: 0.25, enabled: false },
      hosts: ["a.example", "b.example"],
      note_unencrypted: "clear",
    },
  },
  {
    name: "app.json",
    fileType: "json",
    text: '{\n\t"token": "t0k3n",\n\t"nested": {\n\t\t"n": 42,\n\t\t"list": ["x", "y"]\n\t}\n}\n',
    expected: { token: "t0k3n", nested: { n: 42, list: ["x", "y"] } },
  },
  {
    name: "app.env",
    fileType: "env",
    text: "TOKEN=abc123\nDB_PASSWORD=hunter2\n",
    expected: { TOKEN: "abc123", DB_PASSWORD: "hunter2" },
  },
]

for (const c of cases) {
  test(`sops-age decrypts coffer's ${c.fileType} output`, async (t) => {
    const identity = generateX25519Identity()
    const dir = tmpTree(t, { [c.name]: c.text })
    const r = await runCli(
      ["encrypt", "--age", identity.toRecipient().encode(), join(dir, c.name)],
      {
        env: sopsEnv(t).env,
      },
    )
    assert.equal(r.status, 0, r.stderr)
    const decrypted: unknown = await decryptSops(r.stdout.toString("utf8"), {
      secretKey: identity.encode(),
      fileType: c.fileType,
    })
    assert.deepEqual(decrypted, c.expected)
  })
}

test("sops-age fails with the wrong key (the peer check can fail)", async (t) => {
  const dir = tmpTree(t, { "a.yaml": "a: secret\n" })
  const r = await runCli(
    ["encrypt", "--age", generateX25519Identity().toRecipient().encode(), join(dir, "a.yaml")],
    {
      env: sopsEnv(t).env,
    },
  )
  assert.equal(r.status, 0, r.stderr)
  await assert.rejects(
    decryptSops(r.stdout.toString("utf8"), {
      secretKey: generateX25519Identity().encode(),
      fileType: "yaml",
    }),
  )
})
