/**
 * `coffer age` / `coffer-age` as a real process (docs/formats/age.md "The age and age-keygen command lines", docs/agenix.md "The age command lines agenix runs"): every
 * invocation agenix makes, stdin/stdout, `--`, `-o -`, umask, and the errors users see.
 */
import { test } from "node:test"
import assert from "node:assert/strict"
import { randomBytes } from "node:crypto"
import { existsSync, readFileSync, statSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { binPath, runCli, runCommand } from "../support/cli.js"
import { tmpTree } from "../support/tmp.js"
import { requireTool } from "../support/tools.js"
import { runInPty, shellQuote } from "./pty.js"

interface KeyPair {
  readonly identityFile: string
  readonly recipient: string
}

async function keygen(dir: string, name: string): Promise<KeyPair> {
  const identityFile = join(dir, name)
  const r = await runCli(["age-keygen", "-o", identityFile])
  assert.equal(r.status, 0, r.stderr)
  const recipient = /Public key: (age1\w+)/.exec(r.stderr)?.[1]
  assert.ok(recipient !== undefined, r.stderr)
  return { identityFile, recipient }
}

async function sshKeygen(
  dir: string,
  type: "ed25519" | "rsa",
): Promise<{ key: string; pub: string }> {
  const key = join(dir, `id_${type}`)
  const r = await runCommand("ssh-keygen", [
    "-q",
    "-t",
    type,
    ...(type === "rsa" ? ["-b", "2048"] : []),
    "-N",
    "",
    "-C",
    "test@host",
    "-f",
    key,
  ])
  assert.equal(r.status, 0, r.stderr)
  return { key, pub: readFileSync(`${key}.pub`, "utf8").trim() }
}

test("agenix module decrypt: --decrypt -i SSH -i AGE -o OUT.tmp IN under umask 0277 makes a 0400 file", async (t) => {
  if (!requireTool(t, "ssh-keygen", "openssh-client")) return
  const dir = tmpTree(t, { "secret.txt": "tskey-auth-123\n" })
  const ssh = await sshKeygen(dir, "ed25519")
  const age = await keygen(dir, "key.txt")
  const enc = await runCli([
    "age",
    "-r",
    ssh.pub,
    "-o",
    join(dir, "secret.age"),
    join(dir, "secret.txt"),
  ])
  assert.equal(enc.status, 0, enc.stderr)
  const out = join(dir, "secret.tmp")
  const cmd = [
    binPath("coffer-age"),
    "--decrypt",
    "-i",
    ssh.key,
    "-i",
    age.identityFile,
    "-o",
    out,
    join(dir, "secret.age"),
  ]
  const r = await runCommand("sh", ["-c", `umask 0277; exec ${cmd.map(shellQuote).join(" ")}`], {
    env: { LANG: "C.UTF-8" },
  })
  assert.equal(r.status, 0, r.stderr)
  assert.equal(readFileSync(out, "utf8"), "tskey-auth-123\n")
  assert.equal(statSync(out).mode & 0o777, 0o400)
})

test("agenix CLI decrypt: --decrypt --identity K -o - -- -leading-hyphen-filename.age", async (t) => {
  const dir = tmpTree(t)
  const k = await keygen(dir, "key.txt")
  const enc = await runCli(
    ["age", "-r", k.recipient, "-o", join(dir, "-leading-hyphen-filename.age")],
    { input: "hyphen\n" },
  )
  assert.equal(enc.status, 0, enc.stderr)
  const r = await runCli(
    [
      "age",
      "--decrypt",
      "--identity",
      k.identityFile,
      "-o",
      "-",
      "--",
      "-leading-hyphen-filename.age",
    ],
    { cwd: dir },
  )
  assert.equal(r.status, 0, r.stderr)
  assert.equal(r.stdout.toString(), "hyphen\n")
  // Without "--" the name is taken as a flag.
  const bad = await runCli(
    ["age", "--decrypt", "--identity", k.identityFile, "-leading-hyphen-filename.age"],
    { cwd: dir },
  )
  assert.equal(bad.status, 2)
  assert.match(bad.stderr, /unknown flag/)
})

test("agenix CLI encrypt: --armor --recipient 'ssh-ed25519 … comment' --recipient 'ssh-rsa …' --recipient age1… -o OUT, plaintext on stdin", async (t) => {
  if (!requireTool(t, "ssh-keygen", "openssh-client")) return
  const dir = tmpTree(t)
  const ed = await sshKeygen(dir, "ed25519")
  const rsa = await sshKeygen(dir, "rsa")
  const k = await keygen(dir, "key.txt")
  const out = join(dir, "s.age")
  const enc = await runCli(
    [
      "age",
      "--armor",
      "--recipient",
      ed.pub,
      "--recipient",
      rsa.pub,
      "--recipient",
      k.recipient,
      "-o",
      out,
    ],
    { input: "multi\n" },
  )
  assert.equal(enc.status, 0, enc.stderr)
  assert.match(readFileSync(out, "utf8"), /^-----BEGIN AGE ENCRYPTED FILE-----\n/)
  for (const id of [ed.key, rsa.key, k.identityFile]) {
    const r = await runCli(["age", "--decrypt", "-i", id, out])
    assert.equal(r.status, 0, r.stderr)
    assert.equal(r.stdout.toString(), "multi\n")
  }
})

test("--version prints a version and exits 0 (agenix -h shows it)", async () => {
  const r = await runCli(["age", "--version"])
  assert.equal(r.status, 0)
  assert.match(r.stdout.toString(), /^\d+\.\d+\.\d+/)
  const direct = await runCli(["--version"], { bin: "coffer-age" })
  assert.equal(direct.stdout.toString(), r.stdout.toString())
})

test("zero -i flags (agenix with no readable identity) fails with a hint", async (t) => {
  const dir = tmpTree(t)
  const k = await keygen(dir, "key.txt")
  await runCli(["age", "-r", k.recipient, "-o", join(dir, "x.age")], { input: "x" })
  const r = await runCli(["age", "--decrypt", "-o", join(dir, "out"), join(dir, "x.age")])
  assert.equal(r.status, 2)
  assert.match(r.stderr, /^error: identities are required/m)
  assert.match(r.stderr, /hint: .*"X25519"/)
  assert.equal(existsSync(join(dir, "out")), false)
})

test("stdin to stdout round trip, and -o - forces binary output", async (t) => {
  const dir = tmpTree(t)
  const k = await keygen(dir, "key.txt")
  const plaintext = Buffer.alloc(70_000, 7)
  const enc = await runCli(["age", "-r", k.recipient, "-o", "-"], { input: plaintext })
  assert.equal(enc.status, 0, enc.stderr)
  assert.match(enc.stdout.subarray(0, 22).toString(), /^age-encryption\.org\/v1\n/)
  const dec = await runCli(["age", "-d", "-i", k.identityFile], { input: enc.stdout })
  assert.equal(dec.status, 0, dec.stderr)
  assert.deepEqual(dec.stdout, plaintext)
})

test("standard output: to /dev/null and to a file without -o; a reader that goes away ends it quietly", async (t) => {
  const dir = tmpTree(t)
  const k = await keygen(dir, "key.txt")
  const plainFile = join(dir, "big")
  writeFileSync(plainFile, Buffer.alloc(4 * 1024 * 1024, 9))
  const enc = join(dir, "big.age")
  // a character device that is no terminal: binary output is not refused
  const toNull = await runCommand("sh", [
    "-c",
    `${shellQuote(binPath())} age -r ${k.recipient} ${shellQuote(plainFile)} > /dev/null`,
  ])
  assert.equal(toNull.status, 0, toNull.stderr)
  const toFile = await runCommand("sh", [
    "-c",
    `${shellQuote(binPath())} age -r ${k.recipient} ${shellQuote(plainFile)} > ${shellQuote(enc)}`,
  ])
  assert.equal(toFile.status, 0, toFile.stderr)
  const back = await runCli(["age", "-d", "-i", k.identityFile, enc])
  assert.equal(back.status, 0, back.stderr)
  // every byte, not only the length: 4 MiB of 9s
  assert.equal(back.stdout.length, 4 * 1024 * 1024)
  assert.ok(back.stdout.equals(readFileSync(plainFile)), "the plaintext comes back byte for byte")
  // `| head -c 10`: the reader exits after 10 bytes; coffer stops with status 1 and says
  // nothing (as a process killed by SIGPIPE would), and never prints a stack
  const status = await runCommand("bash", [
    "-c",
    `set -o pipefail; ${shellQuote(binPath())} age -d -i ${shellQuote(k.identityFile)} ${shellQuote(enc)} | head -c 10 > /dev/null`,
  ])
  assert.equal(status.status, 1, status.stderr)
  assert.equal(status.stderr, "")
})

test("standard output made non-blocking by another process: every byte arrives, in order", async (t) => {
  if (!requireTool(t, "perl", "perl-base")) return
  const dir = tmpTree(t)
  const k = await keygen(dir, "key.txt")
  const plaintext = randomBytes(3 * 1024 * 1024)
  const enc = join(dir, "x.age")
  writeFileSync(join(dir, "plain"), plaintext)
  const made = await runCli(["age", "-r", k.recipient, "-o", enc, join(dir, "plain")])
  assert.equal(made.status, 0, made.stderr)
  // perl (Essential in Debian) sets O_NONBLOCK on the pipe, then runs coffer on it; the
  // reader starts late, so coffer's writes find the pipe full (EAGAIN)
  const nonBlocking =
    "use Fcntl; fcntl(STDOUT, F_SETFL, fcntl(STDOUT, F_GETFL, 0) | O_NONBLOCK) or die; exec @ARGV or die"
  const out = join(dir, "out")
  const piped = await runCommand("sh", [
    "-c",
    `perl -e ${shellQuote(nonBlocking)} ${shellQuote(binPath())} age -d -i ${shellQuote(k.identityFile)} ${shellQuote(enc)} | (sleep 1; cat > ${shellQuote(out)})`,
  ])
  assert.equal(piped.status, 0, piped.stderr)
  assert.equal(piped.stderr, "")
  assert.ok(readFileSync(out).equals(plaintext))
})

test("binary output to a terminal is refused; armored output is not", async (t) => {
  if (!requireTool(t, "script", "bsdutils")) return
  const dir = tmpTree(t)
  const k = await keygen(dir, "key.txt")
  const plainFile = join(dir, "p.txt")
  writeFileSync(plainFile, "to the terminal\n")
  const binary = await runInPty([binPath(), "age", "-r", k.recipient, plainFile], [])
  assert.equal(binary.status, 2, binary.transcript)
  assert.match(binary.transcript, /refusing to output binary to the terminal/)
  const armored = await runInPty([binPath(), "age", "-a", "-r", k.recipient, plainFile], [])
  assert.equal(armored.status, 0, armored.transcript)
  assert.match(armored.transcript, /-----BEGIN AGE ENCRYPTED FILE-----/)
})

test("identities from stdin with -i -, input from a file", async (t) => {
  const dir = tmpTree(t)
  const k = await keygen(dir, "key.txt")
  await runCli(["age", "-r", k.recipient, "-o", join(dir, "x.age")], { input: "via stdin key" })
  const r = await runCli(["age", "-d", "-i", "-", join(dir, "x.age")], {
    input: readFileSync(k.identityFile),
  })
  assert.equal(r.status, 0, r.stderr)
  assert.equal(r.stdout.toString(), "via stdin key")
  const both = await runCli(["age", "-d", "-i", "-"], { input: "" })
  assert.equal(both.status, 2)
  assert.match(both.stderr, /standard input can't be used for both/)
})

test("no identity matched: age's message, the stanza types, the identities tried, exit 1, no output file", async (t) => {
  const dir = tmpTree(t)
  const a = await keygen(dir, "a.txt")
  const b = await keygen(dir, "b.txt")
  await runCli(["age", "-r", a.recipient, "-o", join(dir, "x.age")], { input: "x" })
  const out = join(dir, "out.txt")
  const r = await runCli(["age", "-d", "-i", b.identityFile, "-o", out, join(dir, "x.age")])
  assert.equal(r.status, 1)
  assert.match(r.stderr, /^error: no identity matched any of the recipients/m)
  assert.match(r.stderr, /"X25519"/)
  assert.match(r.stderr, /hint: tried -i ".*b\.txt" \(1 identity\)/)
  assert.equal(existsSync(out), false)
})

test("usage errors: unknown flag, two inputs, -p with -r, -d with -r, missing recipients", async () => {
  const cases: [string[], number, RegExp][] = [
    [["age", "--frobnicate"], 2, /error: unknown flag "--frobnicate"/],
    [
      ["age", "-d", "a.age", "b.age"],
      2,
      /too many arguments[\s\S]*hint: note that the input file must be specified after all flags/,
    ],
    [["age", "-d", "a.age", "-i", "k"], 2, /hint: move -i before the input file/],
    [["age", "-p", "-r", "age1xyz"], 2, /-p\/--passphrase can't be combined with -r\/--recipient/],
    [
      ["age", "-d", "-r", "age1xyz"],
      2,
      /-r\/--recipient can't be used with -d\/--decrypt[\s\S]*did you mean to use -i/,
    ],
    [["age", "-a"], 2, /missing recipients/],
    [["age", "-i", "key.txt"], 2, /did you forget to specify -d\/--decrypt/],
    [["age", "-de"], 2, /short flags can't be combined/],
  ]
  for (const [args, status, pattern] of cases) {
    const r = await runCli(args)
    assert.equal(r.status, status, `${args.join(" ")}: ${r.stderr}`)
    assert.match(r.stderr, pattern, args.join(" "))
    assert.equal(r.stdout.length, 0)
  }
})

test("identity file errors name the file and line, never the secret", async (t) => {
  const secret = "AGE-SECRET-KEY-1QQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQ"
  const dir = tmpTree(t, {
    "bad.txt": `# my key\n\n${secret}\n`,
    "pub.txt": "# created\nage1zvkyg2lqzraa2lnjvqej32nkuu0ues2s82hzrye869xeexvn73equnujwj\n",
    "x.age": "age-encryption.org/v1\n",
  })
  const r = await runCli(["age", "-d", "-i", join(dir, "bad.txt"), join(dir, "x.age")])
  assert.equal(r.status, 1)
  assert.match(r.stderr, /identity file ".*bad\.txt" line 3: not a valid identity/)
  assert.ok(!r.stderr.includes(secret))
  const p = await runCli(["age", "-d", "-i", join(dir, "pub.txt"), join(dir, "x.age")])
  assert.equal(p.status, 1)
  assert.match(p.stderr, /line 2: apparent recipient found in identities file/)
  assert.match(p.stderr, /hint: .*-r or -R/)
})

test("recipients files: comments, CRLF, unsupported SSH keys skipped with a warning, identities refused", async (t) => {
  if (!requireTool(t, "ssh-keygen", "openssh-client")) return
  const dir = tmpTree(t)
  const k = await keygen(dir, "key.txt")
  const ecdsa = join(dir, "id_ecdsa")
  await runCommand("ssh-keygen", ["-q", "-t", "ecdsa", "-N", "", "-f", ecdsa])
  writeFileSync(
    join(dir, "r.txt"),
    `# team\r\n${readFileSync(`${ecdsa}.pub`, "utf8").trim()}\r\n\r\n${k.recipient}\r\n`,
  )
  const enc = await runCli(["age", "-R", join(dir, "r.txt"), "-o", join(dir, "x.age")], {
    input: "team",
  })
  assert.equal(enc.status, 0, enc.stderr)
  assert.match(
    enc.stderr,
    /warning: recipients file ".*r\.txt" line 2: skipping unsupported SSH key type "ecdsa-sha2-nistp256"/,
  )
  const dec = await runCli(["age", "-d", "-i", k.identityFile, join(dir, "x.age")])
  assert.equal(dec.stdout.toString(), "team")
  writeFileSync(join(dir, "wrong.txt"), readFileSync(k.identityFile))
  const wrong = await runCli(["age", "-R", join(dir, "wrong.txt")], { input: "x" })
  assert.equal(wrong.status, 1)
  assert.match(wrong.stderr, /line 3: apparent identity found in recipients file/)
})

test("-e -i encrypts to the identities' own recipients", async (t) => {
  const dir = tmpTree(t)
  const k = await keygen(dir, "key.txt")
  const enc = await runCli(["age", "-e", "-i", k.identityFile, "-a"], { input: "self" })
  assert.equal(enc.status, 0, enc.stderr)
  const dec = await runCli(["age", "-d", "-i", k.identityFile], { input: enc.stdout })
  assert.equal(dec.stdout.toString(), "self")
})

test("-j batchpass: AGE_PASSPHRASE and AGE_PASSPHRASE_FD, wrong passphrase, both set", async (t) => {
  const dir = tmpTree(t, { "pw.txt": "correct horse\n" })
  const env = { AGE_PASSPHRASE: "correct horse", AGE_PASSPHRASE_WORK_FACTOR: "10" }
  const enc = await runCli(["age", "-e", "-j", "batchpass", "-o", join(dir, "p.age")], {
    input: "batch",
    env,
  })
  assert.equal(enc.status, 0, enc.stderr)
  const dec = await runCli(["age", "-d", "-j", "batchpass", join(dir, "p.age")], { env })
  assert.equal(dec.status, 0, dec.stderr)
  assert.equal(dec.stdout.toString(), "batch")
  const viaFd = await runCommand("sh", [
    "-c",
    `AGE_PASSPHRASE_FD=3 exec ${shellQuote(binPath())} age -d -j batchpass ${shellQuote(join(dir, "p.age"))} 3< ${shellQuote(join(dir, "pw.txt"))}`,
  ])
  assert.equal(viaFd.status, 0, viaFd.stderr)
  assert.equal(viaFd.stdout.toString(), "batch")
  const wrong = await runCli(["age", "-d", "-j", "batchpass", join(dir, "p.age")], {
    env: { AGE_PASSPHRASE: "nope" },
  })
  assert.equal(wrong.status, 1)
  assert.match(wrong.stderr, /incorrect passphrase/)
  assert.ok(!wrong.stderr.includes("nope"))
  const both = await runCli(["age", "-d", "-j", "batchpass", join(dir, "p.age")], {
    env: { AGE_PASSPHRASE: "a", AGE_PASSPHRASE_FD: "3" },
  })
  assert.match(both.stderr, /mutually exclusive/)
  const mixed = await runCli(
    [
      "age",
      "-e",
      "-j",
      "batchpass",
      "-r",
      "age1zvkyg2lqzraa2lnjvqej32nkuu0ues2s82hzrye869xeexvn73equnujwj",
      "-a",
    ],
    { input: "x", env },
  )
  assert.equal(mixed.status, 1)
  assert.match(mixed.stderr, /error: /)
})

test("a passphrase-encrypted file with -i is refused; an empty plaintext still creates the output", async (t) => {
  const dir = tmpTree(t)
  const k = await keygen(dir, "key.txt")
  const env = { AGE_PASSPHRASE: "pw", AGE_PASSPHRASE_WORK_FACTOR: "10" }
  await runCli(["age", "-e", "-j", "batchpass", "-o", join(dir, "p.age")], { input: "", env })
  const r = await runCli(["age", "-d", "-i", k.identityFile, join(dir, "p.age")])
  assert.equal(r.status, 2)
  assert.match(r.stderr, /encrypted with a passphrase, but identities were given/)
  const empty = await runCli(
    ["age", "-d", "-j", "batchpass", "-o", join(dir, "empty.txt"), join(dir, "p.age")],
    { env },
  )
  assert.equal(empty.status, 0, empty.stderr)
  assert.equal(readFileSync(join(dir, "empty.txt")).length, 0)
})

test("a truncated file fails non-zero and leaves no output file we created", async (t) => {
  const dir = tmpTree(t)
  const k = await keygen(dir, "key.txt")
  const enc = await runCli(["age", "-r", k.recipient], { input: Buffer.alloc(200_000, 1) })
  writeFileSync(join(dir, "t.age"), enc.stdout.subarray(0, enc.stdout.length - 100))
  const out = join(dir, "out.bin")
  const r = await runCli(["age", "-d", "-i", k.identityFile, "-o", out, join(dir, "t.age")])
  assert.equal(r.status, 1)
  assert.match(r.stderr, /^error: /m)
  assert.equal(existsSync(out), false)
})

test("input and output may not be the same file", async (t) => {
  const dir = tmpTree(t, { "f.txt": "keep me" })
  const k = await keygen(dir, "key.txt")
  const r = await runCli(["age", "-r", k.recipient, "-o", join(dir, "f.txt"), join(dir, "f.txt")])
  assert.equal(r.status, 2)
  assert.match(r.stderr, /same file/)
  assert.equal(readFileSync(join(dir, "f.txt"), "utf8"), "keep me")
})
