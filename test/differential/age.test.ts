/**
 * Differential tests of `coffer age`, `coffer age-keygen` and `coffer ssh-to-age` against
 * the real age 1.3.2 (age, age-keygen, age-plugin-batchpass, age-inspect) and ssh-to-age
 * 1.3.0, built from their Go modules by scripts/peers.sh: the same inputs through both
 * tools in one run, every file made by one decrypted by the other. Debian's age 1.1.1 is
 * the older peer of test/interop; this file covers what only 1.3 has (post-quantum
 * hybrid keys, batchpass, age-inspect) and re-checks the classic types against 1.3.
 */
import { test, type TestContext } from "node:test"
import assert from "node:assert/strict"
import { randomBytes } from "node:crypto"
import { readFileSync, writeFileSync } from "node:fs"
import { dirname, join } from "node:path"
import { binPath, repoRoot, runCli, runCommand, type RunResult } from "../support/cli.js"
import { peersDir, requirePeer, type PeerName } from "../support/peers.js"
import { tmpTree } from "../support/tmp.js"
import { requireTool } from "../support/tools.js"
import { runInPty } from "../cli/pty.js"
import { inspectHeader } from "../../src/age/decrypt.js"

/** Sizes around the 64 KiB chunk boundary, and the empty file. */
const sizes = [0, 1, 65535, 65536, 65537, 2 * 65536 + 7]

/** The peers this file needs, or null (skipped outside CI) when one is missing. */
function peers(t: TestContext, names: readonly PeerName[]): Record<string, string> | null {
  const found: Record<string, string> = {}
  for (const name of names) {
    const path = requirePeer(t, name)
    if (path === null) return null
    found[name] = path
  }
  return found
}

/** PATH with the peers first, so that `-j batchpass` finds the real plugin binary. */
const peerEnv = (): Record<string, string> => ({
  PATH: `${peersDir()}:${process.env["PATH"] ?? ""}`,
})

function ok(r: RunResult, label: string): Buffer {
  assert.equal(r.status, 0, `${label}: exit ${String(r.status)}: ${r.stderr}`)
  return r.stdout
}

function publicKeyOf(stderr: string): string {
  return /Public key: (age1\w+)/.exec(stderr)?.[1] ?? assert.fail(`no public key in ${stderr}`)
}

interface KeyPair {
  readonly file: string
  readonly recipient: string
}

/** An identity file made by `coffer age-keygen` and one made by the real `age-keygen`. */
async function keyPairs(
  dir: string,
  ageKeygen: string,
  pq: boolean,
): Promise<{ ours: KeyPair; theirs: KeyPair }> {
  const flags = pq ? ["-pq"] : []
  const ours = join(dir, pq ? "ours-pq.txt" : "ours.txt")
  const a = await runCli(["age-keygen", ...flags, "-o", ours])
  ok(a, "coffer age-keygen")
  const theirs = join(dir, pq ? "theirs-pq.txt" : "theirs.txt")
  const b = await runCommand(ageKeygen, [...flags, "-o", theirs])
  ok(b, "age-keygen")
  return {
    ours: { file: ours, recipient: publicKeyOf(a.stderr) },
    theirs: { file: theirs, recipient: publicKeyOf(b.stderr) },
  }
}

test("age-keygen -y: both tools print the same recipients for identity files either made, classic and -pq", async (t) => {
  const p = peers(t, ["age-keygen"])
  if (p === null) return
  const dir = tmpTree(t)
  let files = 0
  for (const pq of [false, true]) {
    for (let i = 0; i < 3; i++) {
      const { ours, theirs } = await keyPairs(tmpTree(t), p["age-keygen"] ?? "", pq)
      for (const k of [ours, theirs]) {
        const go = ok(await runCommand(p["age-keygen"] ?? "", ["-y", k.file]), "age-keygen -y")
        const ts = ok(await runCli(["age-keygen", "-y", k.file]), "coffer age-keygen -y")
        assert.equal(ts.toString(), go.toString())
        assert.equal(go.toString(), `${k.recipient}\n`)
        assert.match(k.recipient, pq ? /^age1pq1/ : /^age1(?!pq1)[02-9ac-hj-np-z]{58}$/)
        files++
      }
    }
  }
  // both files of one run in one identity file: one recipient per line, in order
  const { ours, theirs } = await keyPairs(dir, p["age-keygen"] ?? "", true)
  const both = join(dir, "both.txt")
  writeFileSync(both, readFileSync(ours.file, "utf8") + readFileSync(theirs.file, "utf8"))
  const go = ok(await runCommand(p["age-keygen"] ?? "", ["-y", both]), "age-keygen -y both")
  const ts = ok(await runCli(["age-keygen", "-y", both]), "coffer age-keygen -y both")
  assert.equal(ts.toString(), go.toString())
  assert.equal(files, 12)
})

/** One recipient kind: how to get an identity file and a recipient for each side. */
interface RecipientCase {
  readonly name: string
  readonly identity: string
  readonly recipient: string
}

async function recipientCases(t: TestContext, dir: string, ageKeygen: string) {
  const cases: RecipientCase[] = []
  for (const pq of [false, true]) {
    const { ours, theirs } = await keyPairs(dir, ageKeygen, pq)
    const name = pq ? "mlkem768x25519 (age-keygen -pq)" : "X25519"
    cases.push({ name: `${name}, coffer's key`, identity: ours.file, recipient: ours.recipient })
    cases.push({ name: `${name}, age's key`, identity: theirs.file, recipient: theirs.recipient })
  }
  if (requireTool(t, "ssh-keygen", "openssh-client")) {
    for (const type of ["ed25519", "rsa"]) {
      const key = join(dir, `id_${type}`)
      ok(await runCommand("ssh-keygen", ["-q", "-t", type, "-N", "", "-f", key]), "ssh-keygen")
      cases.push({
        name: `ssh-${type}`,
        identity: key,
        recipient: readFileSync(`${key}.pub`, "utf8").trim(),
      })
    }
  }
  return cases
}

test("every recipient type age 1.3 makes, both directions, at chunk boundaries and empty, armored or not", async (t) => {
  const p = peers(t, ["age", "age-keygen"])
  if (p === null) return
  const age = p["age"] ?? ""
  const dir = tmpTree(t)
  const cases = await recipientCases(t, dir, p["age-keygen"] ?? "")
  let checked = 0
  for (const [index, c] of cases.entries()) {
    // every size for coffer's X25519 key; the chunk boundary and the empty file for the rest
    const caseSizes = index === 0 ? sizes : [0, 65536, 65537]
    for (const size of caseSizes) {
      const plaintext = randomBytes(size)
      const plainFile = join(dir, "plain")
      writeFileSync(plainFile, plaintext)
      for (const armor of [false, true]) {
        const label = `${c.name}, ${String(size)} bytes${armor ? ", armored" : ""}`
        const args = ["-r", c.recipient, ...(armor ? ["-a"] : [])]
        const ours = ok(await runCli(["age", ...args, plainFile]), `coffer encrypts ${label}`)
        const goDec = await runCommand(age, ["-d", "-i", c.identity], { input: ours })
        assert.ok(ok(goDec, `age decrypts ${label}`).equals(plaintext), label)
        const theirs = ok(await runCommand(age, [...args, plainFile]), `age encrypts ${label}`)
        const ourDec = await runCli(["age", "-d", "-i", c.identity, "-o", "-"], { input: theirs })
        assert.ok(ok(ourDec, `coffer decrypts ${label}`).equals(plaintext), label)
        checked++
      }
    }
  }
  assert.equal(checked, (sizes.length + (cases.length - 1) * 3) * 2)
  assert.equal(cases.length, 6, "X25519 and hybrid keys of both tools, ssh-ed25519, ssh-rsa")
})

test("several recipients in one file, either tool: classic types mix, hybrid ones mix only with hybrid", async (t) => {
  const p = peers(t, ["age", "age-keygen"])
  if (p === null) return
  const age = p["age"] ?? ""
  const dir = tmpTree(t)
  const classic = await keyPairs(dir, p["age-keygen"] ?? "", false)
  const hybrid = await keyPairs(dir, p["age-keygen"] ?? "", true)
  const plaintext = "to many\n"
  const setups = [
    [classic.ours, classic.theirs],
    [hybrid.ours, hybrid.theirs],
  ]
  for (const keys of setups) {
    const args = keys.flatMap((k) => ["-r", k.recipient])
    const ours = ok(await runCli(["age", ...args], { input: plaintext }), "coffer, several")
    const theirs = ok(await runCommand(age, args, { input: plaintext }), "age, several")
    for (const k of keys) {
      const a = await runCommand(age, ["-d", "-i", k.file], { input: ours })
      assert.equal(ok(a, "age -d").toString(), plaintext)
      const b = await runCli(["age", "-d", "-i", k.file], { input: theirs })
      assert.equal(ok(b, "coffer -d").toString(), plaintext)
    }
  }
  // A hybrid recipient next to a classic one would lose its post-quantum protection:
  // both tools refuse, and neither writes anything.
  const mixed = ["-r", hybrid.theirs.recipient, "-r", classic.theirs.recipient]
  const go = await runCommand(age, mixed, { input: plaintext })
  const ts = await runCli(["age", ...mixed], { input: plaintext })
  assert.notEqual(go.status, 0, "age refuses mixing")
  assert.match(go.stderr, /incompatible recipients/)
  assert.equal(ts.status, 1, ts.stderr)
  assert.match(ts.stderr, /post-quantum|postquantum|mix/i)
  assert.equal(go.stdout.length + ts.stdout.length, 0)
})

test("wrong identity: both tools fail with age's phrase, exit 1, no plaintext", async (t) => {
  const p = peers(t, ["age", "age-keygen"])
  if (p === null) return
  const age = p["age"] ?? ""
  const dir = tmpTree(t)
  for (const pq of [false, true]) {
    const { ours, theirs } = await keyPairs(dir, p["age-keygen"] ?? "", pq)
    const file = ok(await runCommand(age, ["-r", theirs.recipient], { input: "x" }), "age -r")
    const go = await runCommand(age, ["-d", "-i", ours.file], { input: file })
    const ts = await runCli(["age", "-d", "-i", ours.file], { input: file })
    assert.equal(go.status, 1)
    assert.equal(ts.status, 1)
    assert.match(go.stderr, /no identity matched any of the recipients/)
    assert.match(ts.stderr, /no identity matched any of the recipients/)
    assert.equal(go.stdout.length + ts.stdout.length, 0)
  }
})

test("passphrases (scrypt) through a terminal: coffer -p → age 1.3 -d, age 1.3 -p → coffer -d", async (t) => {
  const p = peers(t, ["age"])
  if (p === null || !requireTool(t, "script", "bsdutils")) return
  const age = p["age"] ?? ""
  const dir = tmpTree(t, { "plain.txt": "by passphrase, age 1.3\n" })
  const ours = join(dir, "ours.age")
  const enc = await runInPty(
    [binPath(), "age", "-p", "-a", "-o", ours, join(dir, "plain.txt")],
    ["correct horse", "correct horse"],
  )
  assert.equal(enc.status, 0, enc.transcript)
  const out1 = join(dir, "out1.txt")
  const dec = await runInPty([age, "-d", "-o", out1, ours], ["correct horse"])
  assert.equal(dec.status, 0, dec.transcript)
  assert.equal(readFileSync(out1, "utf8"), "by passphrase, age 1.3\n")

  const theirs = join(dir, "theirs.age")
  const goEnc = await runInPty(
    [age, "-p", "-o", theirs, join(dir, "plain.txt")],
    ["battery staple", "battery staple"],
  )
  assert.equal(goEnc.status, 0, goEnc.transcript)
  const out2 = join(dir, "out2.txt")
  const ourDec = await runInPty([binPath(), "age", "-d", "-o", out2, theirs], ["battery staple"])
  assert.equal(ourDec.status, 0, ourDec.transcript)
  assert.equal(readFileSync(out2, "utf8"), "by passphrase, age 1.3\n")
  // the wrong passphrase: both say so
  const goWrong = await runInPty([age, "-d", "-o", join(dir, "x1"), ours], ["not it"])
  const tsWrong = await runInPty(
    [binPath(), "age", "-d", "-o", join(dir, "x2"), theirs],
    ["not it"],
  )
  assert.notEqual(goWrong.status, 0)
  assert.equal(tsWrong.status, 1)
  assert.match(goWrong.transcript, /incorrect passphrase/)
  assert.match(tsWrong.transcript, /incorrect passphrase/)
})

test("a passphrase-encrypted identity file: made by coffer, used by age 1.3 -d -i; made by age, used by coffer", async (t) => {
  const p = peers(t, ["age", "age-keygen"])
  if (p === null || !requireTool(t, "script", "bsdutils")) return
  const age = p["age"] ?? ""
  const dir = tmpTree(t)
  const { ours, theirs } = await keyPairs(dir, p["age-keygen"] ?? "", true)
  const promptPattern = /passphrase[^:\n]*:/gi
  // coffer wraps its own -pq identity file with a passphrase; age 1.3 asks for it and decrypts
  const ourWrapped = join(dir, "ours.key.age")
  const w1 = await runInPty(
    [binPath(), "age", "-p", "-a", "-o", ourWrapped, ours.file],
    ["id pass 1", "id pass 1"],
  )
  assert.equal(w1.status, 0, w1.transcript)
  const s1 = join(dir, "s1.age")
  ok(await runCommand(age, ["-r", ours.recipient, "-o", s1], { input: "one" }), "age -r")
  const out1 = join(dir, "out1")
  const d1 = await runInPty([age, "-d", "-i", ourWrapped, "-o", out1, s1], ["id pass 1"], {
    promptPattern,
  })
  assert.equal(d1.status, 0, d1.transcript)
  assert.match(d1.transcript, /Enter passphrase for identity file/)
  assert.equal(readFileSync(out1, "utf8"), "one")
  // age 1.3 wraps its identity file; coffer asks and decrypts
  const theirWrapped = join(dir, "theirs.key.age")
  const w2 = await runInPty(
    [age, "-p", "-o", theirWrapped, theirs.file],
    ["id pass 2", "id pass 2"],
  )
  assert.equal(w2.status, 0, w2.transcript)
  const s2 = join(dir, "s2.age")
  ok(await runCli(["age", "-r", theirs.recipient, "-o", s2], { input: "two" }), "coffer -r")
  const out2 = join(dir, "out2")
  const d2 = await runInPty(
    [binPath(), "age", "-d", "-i", theirWrapped, "-o", out2, s2],
    ["id pass 2"],
    { promptPattern },
  )
  assert.equal(d2.status, 0, d2.transcript)
  assert.match(d2.transcript, /Enter passphrase for identity file/)
  assert.equal(readFileSync(out2, "utf8"), "two")
})

test("-j batchpass: the real age-plugin-batchpass and coffer's built-in one read each other's files", async (t) => {
  const p = peers(t, ["age", "age-plugin-batchpass"])
  if (p === null) return
  const age = p["age"] ?? ""
  const env = {
    ...peerEnv(),
    AGE_PASSPHRASE: "batch pass phrase",
    AGE_PASSPHRASE_WORK_FACTOR: "10",
  }
  for (const size of [0, 65536, 65537]) {
    const plaintext = randomBytes(size)
    const ours = ok(
      await runCli(["age", "-e", "-j", "batchpass"], { env, input: plaintext }),
      "coffer -j",
    )
    const theirs = ok(
      await runCommand(age, ["-e", "-j", "batchpass"], { env, input: plaintext }),
      "age -j",
    )
    const goDec = await runCommand(age, ["-d", "-j", "batchpass"], { env, input: ours })
    assert.ok(ok(goDec, "age -d -j batchpass").equals(plaintext))
    const ourDec = await runCli(["age", "-d", "-j", "batchpass"], { env, input: theirs })
    assert.ok(ok(ourDec, "coffer -d -j batchpass").equals(plaintext))
    // both wrote one scrypt stanza at work factor 10
    for (const file of [ours, theirs]) {
      assert.match(file.toString("latin1"), /\n-> scrypt [A-Za-z0-9+/]{22} 10\n/)
    }
  }
  const file = ok(await runCommand(age, ["-e", "-j", "batchpass"], { env, input: "w" }), "age")
  const wrong = { ...env, AGE_PASSPHRASE: "another one" }
  const go = await runCommand(age, ["-d", "-j", "batchpass"], { env: wrong, input: file })
  const ts = await runCli(["age", "-d", "-j", "batchpass"], { env: wrong, input: file })
  assert.notEqual(go.status, 0)
  assert.equal(ts.status, 1)
  assert.match(go.stderr, /incorrect passphrase/)
  assert.match(ts.stderr, /incorrect passphrase/)
})

test("-j batchpass work factors: above 22 refused unless AGE_PASSPHRASE_MAX_WORK_FACTOR allows it, as the Go plugin does", async (t) => {
  const p = peers(t, ["age", "age-plugin-batchpass"])
  if (p === null) return
  const age = p["age"] ?? ""
  const env = { ...peerEnv(), AGE_PASSPHRASE: "work factor", AGE_PASSPHRASE_WORK_FACTOR: "11" }
  const file = ok(await runCommand(age, ["-e", "-j", "batchpass"], { env, input: "wf" }), "age")
  // The stanza's work factor, rewritten: the limit is checked before any scrypt runs, so
  // neither tool spends 2^23 × 1 KiB of memory on it (the header MAC no longer matches,
  // which is never reached).
  const raised = (wf: number): Buffer =>
    Buffer.from(
      file.toString("latin1").replace(/( scrypt \S+) 11\n/, `$1 ${String(wf)}\n`),
      "latin1",
    )
  const cases: { wf: number; max?: string; refused: boolean }[] = [
    { wf: 23, refused: true },
    { wf: 12, max: "11", refused: true },
    { wf: 11, max: "11", refused: false },
    { wf: 11, refused: false },
  ]
  for (const c of cases) {
    const input = c.wf === 11 ? file : raised(c.wf)
    const e = { ...env, ...(c.max === undefined ? {} : { AGE_PASSPHRASE_MAX_WORK_FACTOR: c.max }) }
    const label = `work factor ${String(c.wf)}, max ${c.max ?? "unset"}`
    const go = await runCommand(age, ["-d", "-j", "batchpass"], {
      env: e,
      input,
      timeoutMs: 20_000,
    })
    const ts = await runCli(["age", "-d", "-j", "batchpass"], { env: e, input, timeoutMs: 20_000 })
    if (c.refused) {
      assert.notEqual(go.status, 0, label)
      assert.match(go.stderr, /work factor too large/, label)
      assert.equal(ts.status, 1, `${label}: ${ts.stderr}`)
      assert.match(ts.stderr, /work factor/, label)
    } else {
      assert.equal(ok(go, label).toString(), "wf")
      assert.equal(ok(ts, label).toString(), "wf")
    }
  }
  // Out-of-range limits are refused by both.
  for (const max of ["0", "31", "x"]) {
    const e = { ...env, AGE_PASSPHRASE_MAX_WORK_FACTOR: max }
    const go = await runCommand(age, ["-d", "-j", "batchpass"], { env: e, input: file })
    const ts = await runCli(["age", "-d", "-j", "batchpass"], { env: e, input: file })
    assert.notEqual(go.status, 0, `age, max ${max}`)
    assert.notEqual(ts.status, 0, `coffer, max ${max}`)
    assert.match(ts.stderr, /AGE_PASSPHRASE_MAX_WORK_FACTOR/)
  }
})

test("the real age-plugin-batchpass through coffer's plugin client (its identity in an identity file)", async (t) => {
  const p = peers(t, ["age", "age-plugin-batchpass"])
  if (p === null) return
  const age = p["age"] ?? ""
  // The data-less plugin identity `-j batchpass` stands for, written out: coffer then runs
  // the age-plugin-batchpass binary over the plugin protocol instead of its built-in one.
  const { encodePluginIdentity } = await import("../../src/age/plugin.js")
  const identity = encodePluginIdentity("batchpass", new Uint8Array(0))
  const dir = tmpTree(t, { "batchpass.txt": `${identity}\n` })
  const env = { ...peerEnv(), AGE_PASSPHRASE: "via the protocol", AGE_PASSPHRASE_WORK_FACTOR: "9" }
  const file = ok(await runCommand(age, ["-e", "-j", "batchpass"], { env, input: "plugin" }), "age")
  const dec = await runCli(["age", "-d", "-i", join(dir, "batchpass.txt")], { env, input: file })
  assert.equal(ok(dec, "coffer -d -i AGE-PLUGIN-BATCHPASS-1").toString(), "plugin")
  // and age reads the same identity file
  const go = await runCommand(age, ["-d", "-i", join(dir, "batchpass.txt")], { env, input: file })
  assert.equal(ok(go, "age -d -i AGE-PLUGIN-BATCHPASS-1").toString(), "plugin")
  // with the binary gone from PATH, coffer says which plugin it looked for
  const gone = await runCli(["age", "-d", "-i", join(dir, "batchpass.txt")], {
    env: { ...env, PATH: dirname(process.execPath) },
    input: file,
  })
  assert.equal(gone.status, 1)
  assert.match(gone.stderr, /age-plugin-batchpass/)
})

test("age-inspect --json and coffer's header reading agree on stanza types and armor", async (t) => {
  const p = peers(t, ["age", "age-keygen", "age-inspect"])
  if (p === null) return
  const age = p["age"] ?? ""
  const dir = tmpTree(t)
  const classic = await keyPairs(dir, p["age-keygen"] ?? "", false)
  const hybrid = await keyPairs(dir, p["age-keygen"] ?? "", true)
  const files: { label: string; bytes: Buffer }[] = []
  const setups: { label: string; args: string[] }[] = [
    { label: "X25519 ×2", args: ["-r", classic.ours.recipient, "-r", classic.theirs.recipient] },
    { label: "hybrid ×2", args: ["-r", hybrid.ours.recipient, "-r", hybrid.theirs.recipient] },
  ]
  if (requireTool(t, "ssh-keygen", "openssh-client")) {
    const key = join(dir, "id_ed25519")
    ok(await runCommand("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", key]), "ssh-keygen")
    const pub = readFileSync(`${key}.pub`, "utf8").trim()
    setups.push({ label: "ssh-ed25519 + X25519", args: ["-r", pub, "-r", classic.ours.recipient] })
  }
  for (const s of setups) {
    for (const armor of [[], ["-a"]]) {
      const args = [...s.args, ...armor]
      files.push({
        label: `coffer ${s.label} ${armor.join("")}`,
        bytes: ok(await runCli(["age", ...args], { input: "i" }), s.label),
      })
      files.push({
        label: `age ${s.label} ${armor.join("")}`,
        bytes: ok(await runCommand(age, args, { input: "i" }), s.label),
      })
    }
  }
  const env = { ...peerEnv(), AGE_PASSPHRASE: "inspect", AGE_PASSPHRASE_WORK_FACTOR: "8" }
  files.push({
    label: "batchpass",
    bytes: ok(await runCli(["age", "-e", "-j", "batchpass"], { env, input: "i" }), "bp"),
  })
  for (const f of files) {
    const path = join(dir, "inspect.age")
    writeFileSync(path, f.bytes)
    const out = ok(
      await runCommand(p["age-inspect"] ?? "", ["--json", path]),
      `age-inspect ${f.label}`,
    )
    const theirs = JSON.parse(out.toString()) as { armor: boolean; stanza_types: string[] }
    const ours = inspectHeader(new Uint8Array(f.bytes), true) ?? assert.fail(f.label)
    assert.deepEqual(
      ours.stanzas.map((s) => s.type),
      theirs.stanza_types,
      f.label,
    )
    assert.equal(ours.armored, theirs.armor, f.label)
  }
  assert.equal(files.length, setups.length * 4 + 1)
})

test("ssh-to-age: coffer and Mic92's ssh-to-age 1.3.0 convert a corpus of keys identically (public and -private-key)", async (t) => {
  const p = peers(t, ["ssh-to-age", "age-keygen"])
  if (p === null || !requireTool(t, "ssh-keygen", "openssh-client")) return
  const sshToAge = p["ssh-to-age"] ?? ""
  const dir = tmpTree(t)
  const publicLines: string[] = []
  for (let i = 0; i < 6; i++) {
    const key = join(dir, `id_${String(i)}`)
    ok(
      await runCommand("ssh-keygen", [
        "-q",
        "-t",
        "ed25519",
        "-N",
        "",
        "-C",
        `k${String(i)}`,
        "-f",
        key,
      ]),
      "ssh-keygen",
    )
    const pub = readFileSync(`${key}.pub`)
    publicLines.push(pub.toString().trim())
    const goPub = ok(await runCommand(sshToAge, [], { input: pub }), "ssh-to-age")
    const tsPub = ok(await runCli(["ssh-to-age"], { input: pub }), "coffer ssh-to-age")
    assert.equal(tsPub.toString(), goPub.toString())
    const goPriv = ok(
      await runCommand(sshToAge, ["-private-key", "-i", key]),
      "ssh-to-age -private-key",
    )
    const tsPriv = ok(
      await runCli(["ssh-to-age", "-private-key", "-i", key]),
      "coffer ssh-to-age -private-key",
    )
    assert.equal(tsPriv.toString(), goPriv.toString())
    // the private key's recipient, by the real age-keygen -y, is the public conversion
    const idFile = join(dir, `age_${String(i)}.txt`)
    writeFileSync(idFile, goPriv)
    const y = ok(await runCommand(p["age-keygen"] ?? "", ["-y", idFile]), "age-keygen -y")
    assert.equal(y.toString(), goPub.toString())
  }
  // several keys at once, ssh-keyscan style with host names
  const scan = `${publicLines.map((l) => `host.example ${l}`).join("\n")}\n`
  const go = ok(await runCommand(sshToAge, ["-i", "-"], { input: scan }), "ssh-to-age -i -")
  const ts = ok(await runCli(["ssh-to-age", "-i", "-"], { input: scan }), "coffer ssh-to-age -i -")
  assert.equal(ts.toString(), go.toString())
  assert.equal(go.toString().trimEnd().split("\n").length, 6)
})

/** age-plugin-tagtest's two fixed recipients (test/vectors/age-tagtest). */
function tagtestRecipients(): { classic: string; hybrid: string } {
  const lines = readFileSync(
    join(repoRoot, "test", "vectors", "age-tagtest", "recipients.txt"),
    "utf8",
  )
    .split("\n")
    .filter((l) => l.startsWith("age1"))
  const classic = lines.find((l) => l.startsWith("age1tag1")) ?? assert.fail("no age1tag1")
  const hybrid = lines.find((l) => l.startsWith("age1tagpq1")) ?? assert.fail("no age1tagpq1")
  return { classic, hybrid }
}

test("tagged recipients (age1tag1…, age1tagpq1…): coffer encrypts, age 1.3 decrypts with its tagtest plugin, and the other way", async (t) => {
  const p = peers(t, ["age", "age-plugin-tagtest", "age-inspect"])
  if (p === null) return
  const age = p["age"] ?? ""
  const env = peerEnv()
  const { classic, hybrid } = tagtestRecipients()
  let checked = 0
  for (const [kind, recipient] of [
    ["p256tag", classic],
    ["mlkem768p256tag", hybrid],
  ] as const) {
    for (const size of [0, 1, 65536, 65537]) {
      for (const armor of [false, true]) {
        const label = `${kind}, ${String(size)} bytes${armor ? ", armored" : ""}`
        const plaintext = randomBytes(size)
        const args = ["-r", recipient, ...(armor ? ["-a"] : [])]
        const ours = ok(
          await runCli(["age", ...args], { env, input: plaintext }),
          `coffer ${label}`,
        )
        // one stanza of the type, two arguments (4-byte tag, encapsulation), a 32-byte body
        const header = inspectHeader(new Uint8Array(ours), true) ?? assert.fail(label)
        const stanza = header.stanzas[0] ?? assert.fail(label)
        assert.equal(header.stanzas.length, 1)
        assert.equal(stanza.type, kind)
        assert.equal(Buffer.from(stanza.args[0] ?? "", "base64").length, 4, label)
        assert.equal(
          Buffer.from(stanza.args[1] ?? "", "base64").length,
          kind === "p256tag" ? 65 : 1088 + 65,
        )
        assert.equal(stanza.body.length, 32)
        const goDec = await runCommand(age, ["-d", "-j", "tagtest"], { env, input: ours })
        assert.ok(ok(goDec, `age -d -j tagtest ${label}`).equals(plaintext), label)
        // age's own file, read by coffer through its plugin client and the same plugin
        const theirs = ok(await runCommand(age, args, { env, input: plaintext }), `age ${label}`)
        const ourDec = await runCli(["age", "-d", "-j", "tagtest", "-o", "-"], {
          env,
          input: theirs,
        })
        assert.ok(ok(ourDec, `coffer -d -j tagtest ${label}`).equals(plaintext), label)
        checked++
      }
    }
    // age-inspect sees the same: the stanza type, and post-quantum only for the hybrid one
    const file = ok(await runCli(["age", "-r", recipient], { env, input: "x" }), kind)
    const inspected = JSON.parse(
      ok(
        await runCommand(p["age-inspect"] ?? "", ["--json"], { input: file }),
        "age-inspect",
      ).toString(),
    ) as { postquantum: string; stanza_types: string[] }
    assert.deepEqual(inspected.stanza_types, [kind])
    assert.equal(inspected.postquantum, kind === "p256tag" ? "no" : "yes")
  }
  assert.equal(checked, 16)
})

test("tagged recipients follow the labels rule as age does: tagpq mixes with age1pq only, tag with classic keys", async (t) => {
  const p = peers(t, ["age", "age-keygen", "age-plugin-tagtest"])
  if (p === null) return
  const age = p["age"] ?? ""
  const env = peerEnv()
  const { classic, hybrid } = tagtestRecipients()
  const dir = tmpTree(t)
  const x25519 = await keyPairs(dir, p["age-keygen"] ?? "", false)
  const pq = await keyPairs(dir, p["age-keygen"] ?? "", true)
  const setups: { label: string; recipients: string[]; allowed: boolean }[] = [
    { label: "tagpq + age1pq", recipients: [hybrid, pq.theirs.recipient], allowed: true },
    { label: "tag + X25519", recipients: [classic, x25519.theirs.recipient], allowed: true },
    { label: "tagpq + X25519", recipients: [hybrid, x25519.theirs.recipient], allowed: false },
    { label: "tag + age1pq", recipients: [classic, pq.theirs.recipient], allowed: false },
    { label: "tag + tagpq", recipients: [classic, hybrid], allowed: false },
  ]
  for (const s of setups) {
    const args = s.recipients.flatMap((r) => ["-r", r])
    const go = await runCommand(age, args, { env, input: "mix" })
    const ts = await runCli(["age", ...args], { env, input: "mix" })
    assert.equal(go.status === 0, s.allowed, `age, ${s.label}: ${go.stderr}`)
    assert.equal(ts.status === 0, s.allowed, `coffer, ${s.label}: ${ts.stderr}`)
    if (!s.allowed) continue
    // each file opens with the tagtest plugin and with the other recipient's key, in both tools
    const other = s.recipients[1] === pq.theirs.recipient ? pq.theirs.file : x25519.theirs.file
    for (const file of [go.stdout, ts.stdout]) {
      assert.equal(
        ok(
          await runCommand(age, ["-d", "-j", "tagtest"], { env, input: file }),
          s.label,
        ).toString(),
        "mix",
      )
      assert.equal(
        ok(await runCli(["age", "-d", "-i", other], { env, input: file }), s.label).toString(),
        "mix",
      )
    }
  }
})

test("malformed tagged recipients are refused by both tools", async (t) => {
  const p = peers(t, ["age"])
  if (p === null) return
  const age = p["age"] ?? ""
  const { classic, hybrid } = tagtestRecipients()
  const { encodeBech32, decodeBech32 } = await import("../../src/age/bech32.js")
  const classicBytes = decodeBech32(classic).data
  const flipped = classicBytes.slice()
  flipped[0] = 0x05 // not a compressed point's prefix
  // an x coordinate with no point on the curve (about half of them): the next one after the key's
  const { ECDH } = await import("node:crypto")
  const offCurve = classicBytes.slice()
  for (;;) {
    offCurve[32] = ((offCurve[32] ?? 0) + 1) & 0xff
    try {
      ECDH.convertKey(offCurve, "prime256v1")
    } catch {
      break
    }
  }
  const bad = [
    classic.slice(0, -1) + (classic.endsWith("q") ? "p" : "q"), // checksum
    encodeBech32("age1tag", classicBytes.subarray(0, 32)), // short
    encodeBech32("age1tag", flipped),
    encodeBech32("age1tag", offCurve),
    encodeBech32("age1tagpq", decodeBech32(hybrid).data.subarray(1)), // short hybrid
    classic.toUpperCase(),
  ]
  for (const r of bad) {
    const go = await runCommand(age, ["-r", r], { input: "x" })
    const ts = await runCli(["age", "-r", r], { input: "x" })
    assert.notEqual(go.status, 0, `age accepts ${r.slice(0, 24)}`)
    // a one-line error about the recipient, not a crash
    assert.equal(ts.status, 1, `coffer on ${r.slice(0, 24)}: ${ts.stderr}`)
    assert.match(ts.stderr, /^error: .*recipient/)
    assert.equal(ts.stdout.length, 0)
  }
})
