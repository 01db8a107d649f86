// Unit tests for the mlkem768x25519 hybrid recipient (docs/formats/age.md
// "mlkem768x25519"): the CCTV hybrid vectors at the stanza level, round trips, key strings,
// and the malformed-stanza rules. (The whole-file conformance run, including armor and the
// MAC, is in test/vectors.)
import { test } from "node:test"
import assert from "node:assert/strict"
import { inflateSync } from "node:zlib"
import * as cctv from "cctv-age"
import { base64nopad } from "@scure/base"
import { parseHeader } from "./header.js"
import { encrypt } from "./encrypt.js"
import { decrypt } from "./decrypt.js"
import { generateX25519Identity } from "./x25519.js"
import {
  HYBRID_STANZA_TYPE,
  HybridIdentity,
  HybridRecipient,
  generateHybridIdentity,
  parseHybridIdentity,
  parseHybridRecipient,
} from "./hybrid.js"
import {
  HeaderError,
  IdentityParseError,
  IncompatibleRecipientsError,
  RecipientParseError,
} from "./errors.js"
import type { Stanza } from "./recipient.js"
import type { Entropy } from "../internal/entropy.js"

const VECTOR_IDENTITY =
  "AGE-SECRET-KEY-PQ-1HZLGZUPT4ETPKDEV8HSGFDCYZ4E522W0A7PU2LHT8EH9W6YLNC3SW78XKG"
const FILE_KEY = new TextEncoder().encode("YELLOW SUBMARINE")

/** A deterministic entropy source (a counter-filled stream), for reproducible tests. */
function fixedEntropy(start = 1): Entropy {
  let counter = start
  return (length) => {
    const out = new Uint8Array(length)
    for (let i = 0; i < length; i++) out[i] = counter++ & 0xff
    return out
  }
}

interface Vector {
  readonly expect: string
  readonly identities: readonly string[]
  readonly fileKey: string
  readonly file: Uint8Array
}

function readVector(bytes: Uint8Array): Vector {
  const buffer = Buffer.from(bytes)
  const sep = buffer.indexOf("\n\n")
  const meta = buffer.subarray(0, sep).toString("utf8").split("\n")
  const values = (key: string): string[] =>
    meta.filter((l) => l.startsWith(`${key}: `)).map((l) => l.slice(key.length + 2))
  let file: Uint8Array = buffer.subarray(sep + 2)
  if (values("compressed")[0] === "zlib") file = inflateSync(file)
  return {
    expect: values("expect")[0] ?? "",
    identities: values("identity"),
    fileKey: values("file key")[0] ?? "",
    file,
  }
}

/** @returns the stanzas of the header at the start of `file` (strict parser) */
function readStanzas(file: Uint8Array): Stanza[] {
  const header = parseHeader(file)
  if (header === null) throw new HeaderError("truncated header")
  return header.stanzas
}

const hybridVectors = Object.entries(cctv as Record<string, Uint8Array>).filter(([name]) =>
  name.startsWith("hybrid"),
)

test("the CCTV hybrid vectors unwrap as expected at the stanza level", async (t) => {
  assert.ok(hybridVectors.length >= 15, "cctv-age has the hybrid vectors")
  for (const [name, bytes] of hybridVectors) {
    await t.test(name, async () => {
      const vector = readVector(bytes)
      const identities = vector.identities
        .filter((s) => s.startsWith("AGE-SECRET-KEY-PQ-1"))
        .map(parseHybridIdentity)
      let stanzas: Stanza[]
      try {
        stanzas = readStanzas(vector.file)
      } catch (error) {
        // Only header failures may be refused by the header parser itself.
        assert.equal(vector.expect, "header failure", String(error))
        return
      }
      const unwrap = async (): Promise<Uint8Array | null> => {
        for (const identity of identities) {
          const fileKey = await identity.unwrapFileKey(stanzas)
          if (fileKey !== null) return fileKey
        }
        return null
      }
      switch (vector.expect) {
        case "success":
        case "HMAC failure":
        case "payload failure": {
          const fileKey = await unwrap()
          assert.ok(fileKey)
          assert.equal(Buffer.from(fileKey).toString("hex"), vector.fileKey)
          break
        }
        case "no match":
          assert.equal(await unwrap(), null)
          break
        case "header failure":
          if (name === "hybrid_x25519_arg") {
            // an X25519 stanza with a hybrid-sized share: the X25519 identity's error
            assert.equal(await unwrap(), null)
          } else {
            await assert.rejects(unwrap(), HeaderError)
          }
          break
        default:
          assert.fail(`unknown expect ${vector.expect}`)
      }
    })
  }
})

// A key pair from the age test suite (FiloSottile/age cmd/age/testdata/hybrid.txt, BSD
// licence): age-keygen -pq printed this recipient for this identity.
const UPSTREAM_IDENTITY =
  "AGE-SECRET-KEY-PQ-16XDSLZ3XCSZ3236YJ5J0T9NAPLZTP96LJKQCVHJYUDTQVJR5J5PQTDPQCX"
const UPSTREAM_RECIPIENT =
  "age1pq1044e3hfmq2tltgck54m0gnpv8rfrwkdxjgl38psnwg8zfyv4uqdu63kk0u94ztt0q35k9dzuwgv405kxq6due2sre2kfsjftf7k2vz2mdpetku9pufy9d6ny6k5ss0cghpxdxrux0yd5xy40f8fu8ch9xn2rczyek2pqetqk0l9fqj0e3hfhkyfmcf9j6cpe5mf5stt9cymfq3xm276x4sramhn8srr42g78q9rkmqesevy33p4kdhkuggl99x9zx7j05uflx3s8q558xeaq9q9ctxqx52rzg6yffwykxngvxf7g3n83ddawagq2lnk59kcnexm54jrsmkjk9nemlge9v6p7fxu5z6yvq3ghpet8ww2c3h9fylvjx6j9njwz744376ap5r3xcpzh7qlk0kq3gknzfqhmxmjqypf6xz6geffdmy25apzsfr4ce0x825njkf62mgzx0x9n3zt0490u4dnt4468zse4zvd9sv0ycx2u2wsseuy4yymrg0nmfuxcwq9q0jykq7g5f59vunf95vnmcw336ksrh43fgapsd40u4227ymx56xtudtrte39twnq6fdfdj4p9pgx7pcqdk953za76fqcnvatx2cmywurag7ky4y8ecq5lvf25rydhxg6gmcn6vf78vtsqw79hp3mzv2u4v4jzn0nk50kl4gpv7k60cgz79c6k30jzy8dyetqtwg04tguxkv2p4hqj02yvsz2szaqdn9flu24rhth3v0t33023nwy27gt0x32eqpa5tpz6ygz3yzcsa3w889drpynzd5hlywuk9dwgafuax7upfnnxch4znrx4vactasg32u7vl886pxfswskk7wjgqkggrewtnaecfusl3nmg0xxh8e5nl5eft0xqwj5rk9ajn2j6yxehhgg5k6kpw5pk382hxmpu8wcd3rqx6m8905c7f8v0x2z9gyduxtqp2fdy9w2z4g2rrgu4d5cqes5tnwag007h2f326s3j9p6970xyd73rv5awx27zzezrax467c6vuye62ha88pzhw9xytjpezw3vg3l6x4k9rxwm9f6lwj6j7r9makg59rhgt0355s3jx9vw3raz5qdk5cnpny56q5h3dyd75suskuz63wmmfp9333tx4ry38vnh7jxy0j0cka99y7v2dmyjldjy0mqjetcefsmmg3pw0h9ll0rtskpmxz2cs8vmx6lu4v5rjtzpzgaqt46cwvnmhy5e3ye0tv6sre342lwg0tfd0yjkfz2haqc3hprpqf5ce8c9lx076dnk5cukn3tu38jgprrxt9sk9nqzt8grvkc4qzlg8jjf638v07ej9cf4eu48kphrgyjy83qm822xq8v9k22zwa7txr439x74j2f9ay7frkwtfdwn02enyx8stjpr4wgg25n5tj7uxyx0dqt3hnrqf7dcgt9fqnkjgemjfzyck6pawewptcayxm49sq3477f4cvm2p8fmg27rcmwm5l2vmzvdmymvkrr3aywu04y3zlhs7awu3r9u9lseheqpffvm2xf8y6w2qaj9g22pcu0sdsnqseusrxq9awru5lyqxnzftlslgpe3njegxkze98rveswp3u0xgx69wkg38vgp4k55lwwgv5l7ccv503mh9q23nud4xtm499xq276u40rxyrzaqfyuz2f3v5qr2vq00xs4g3ruynmq0c6nprvjcwqc5zrdn4cnzeeuwumjvqfjdpxr739n4cqcwytc8pjmfcj2qs3l2a8p5fzq7nvtng2jvvklx0x5ypnlkeuegsm587f6d4dkwel2es0lwwt88y2jdg8enjyph02tnjyndlx34h52fngjk96ggtu6vcxqkreqcxs4gwa8ww40t0kzlxfzyfhtjmfdm5fcrr5pt2xm4yslfynr0h9wkranhyadxf33kjn9xpg2fq5hnlq0"

test("the recipient of an upstream age-keygen -pq identity is the one age printed", async () => {
  const recipient = await parseHybridIdentity(UPSTREAM_IDENTITY).toRecipient()
  assert.equal(recipient.toString(), UPSTREAM_RECIPIENT)
})

test("the vector identity prints back to the same string, and its recipient round-trips", async () => {
  const identity = parseHybridIdentity(VECTOR_IDENTITY)
  assert.equal(identity.encode(), VECTOR_IDENTITY)
  const recipient = await identity.toRecipient()
  const text = recipient.toString()
  assert.ok(text.startsWith("age1pq1"))
  assert.equal(text.length, 1959)
  assert.equal(parseHybridRecipient(text).toString(), text)
  assert.deepEqual(parseHybridRecipient(text).publicKey, recipient.publicKey)
})

test("wrap then unwrap returns the file key; another identity gets null", async () => {
  const identity = generateHybridIdentity()
  const other = generateHybridIdentity()
  const recipient = await identity.toRecipient()
  assert.deepEqual(recipient.labels, ["postquantum"])
  const stanzas = await recipient.wrapFileKey(FILE_KEY)
  assert.equal(stanzas.length, 1)
  const stanza = stanzas[0]
  assert.ok(stanza)
  assert.equal(stanza.type, HYBRID_STANZA_TYPE)
  assert.equal(stanza.args.length, 1)
  assert.equal(base64nopad.decode(stanza.args[0] ?? "").length, 1120)
  assert.equal(stanza.body.length, 32)
  assert.deepEqual(await identity.unwrapFileKey(stanzas), FILE_KEY)
  assert.equal(await other.unwrapFileKey(stanzas), null)
  // stanzas of other types are ignored
  assert.equal(
    await identity.unwrapFileKey([{ type: "X25519", args: ["x"], body: FILE_KEY }]),
    null,
  )
})

test("wrapping is deterministic under a fixed entropy and fresh otherwise", async () => {
  const identity = generateHybridIdentity(fixedEntropy(7))
  assert.equal(identity.encode(), generateHybridIdentity(fixedEntropy(7)).encode())
  const a = await (await identity.toRecipient({ entropy: fixedEntropy(3) })).wrapFileKey(FILE_KEY)
  const b = await (await identity.toRecipient({ entropy: fixedEntropy(3) })).wrapFileKey(FILE_KEY)
  assert.deepEqual(a, b)
  const c = await (await identity.toRecipient()).wrapFileKey(FILE_KEY)
  const d = await (await identity.toRecipient()).wrapFileKey(FILE_KEY)
  assert.notDeepEqual(c[0]?.args, d[0]?.args)
  assert.deepEqual(await identity.unwrapFileKey(a), FILE_KEY)
})

test("malformed hybrid stanzas are header errors, checked before decryption", async () => {
  const identity = generateHybridIdentity()
  const [stanza] = await (await identity.toRecipient()).wrapFileKey(FILE_KEY)
  assert.ok(stanza)
  const encapsulation = base64nopad.decode(stanza.args[0] ?? "")
  const cases: Record<string, Stanza> = {
    "no argument": { ...stanza, args: [] },
    "extra argument": { ...stanza, args: [...stanza.args, "AAAA"] },
    "short encapsulation": { ...stanza, args: [base64nopad.encode(encapsulation.subarray(1))] },
    "long body": { ...stanza, body: new Uint8Array(48) },
    "short body": { ...stanza, body: new Uint8Array(16) },
    "non-base64 argument": { ...stanza, args: ["!!!!"] },
  }
  const lowOrder = encapsulation.slice()
  lowOrder.fill(0, 1088) // the identity point as X25519 share
  cases["low-order share"] = { ...stanza, args: [base64nopad.encode(lowOrder)] }
  for (const [what, bad] of Object.entries(cases)) {
    await assert.rejects(identity.unwrapFileKey([bad]), HeaderError, what)
  }
  const badTag = stanza.body.slice()
  badTag[31] = (badTag[31] ?? 0) ^ 1
  assert.equal(await identity.unwrapFileKey([{ ...stanza, body: badTag }]), null)
})

test("key strings: wrong case, wrong type, bad checksum and bad keys are refused", async () => {
  const identity = generateHybridIdentity()
  const text = identity.encode()
  assert.match(text, /^AGE-SECRET-KEY-PQ-1[0-9A-Z]+$/)
  assert.equal(parseHybridIdentity(text).encode(), text)
  assert.throws(() => parseHybridIdentity(text.toLowerCase()), IdentityParseError)
  // the last character changed (to another one: a key that already ends in Q stays valid)
  const otherUpper = text.endsWith("Q") ? "P" : "Q"
  assert.throws(() => parseHybridIdentity(`${text.slice(0, -1)}${otherUpper}`), IdentityParseError)
  assert.throws(
    () =>
      parseHybridIdentity(
        "AGE-SECRET-KEY-1EGTZVFFV20835NWYV6270LXYVK2VKNX2MMDKWYKLMGR48UAWX40Q2P2LM0",
      ),
    IdentityParseError,
  )
  const recipient = (await identity.toRecipient()).toString()
  assert.throws(() => parseHybridRecipient(recipient.toUpperCase()), RecipientParseError)
  const otherLower = recipient.endsWith("q") ? "p" : "q"
  assert.throws(
    () => parseHybridRecipient(`${recipient.slice(0, -1)}${otherLower}`),
    RecipientParseError,
  )
  assert.throws(
    () => parseHybridRecipient("age1gc2zwslg9j25pg9e9ld7623aewc2gjzquzgq90m75r75myqdt5cq3yudvh"),
    RecipientParseError,
  )
  // an ML-KEM coefficient ≥ q fails the FIPS 203 modulus check
  const key = (await identity.toRecipient()).publicKey
  key[0] = 0xff
  key[1] = 0xff
  assert.throws(() => new HybridRecipient(key), RecipientParseError)
  assert.throws(() => new HybridRecipient(new Uint8Array(100)), RecipientParseError)
  assert.throws(() => new HybridIdentity(new Uint8Array(31)), IdentityParseError)
})

test("error messages never contain the identity", () => {
  const text = generateHybridIdentity().encode()
  const broken = `${text.slice(0, -2)}AA`
  try {
    parseHybridIdentity(broken)
    assert.fail("should throw")
  } catch (error) {
    assert.ok(error instanceof IdentityParseError)
    assert.ok(!error.message.includes(broken.slice(19)))
  }
})

test("whole files: encrypt to hybrid recipients and decrypt; hybrid and X25519 don't mix", async () => {
  const a = generateHybridIdentity()
  const b = generateHybridIdentity()
  const plaintext = new TextEncoder().encode("post-quantum secret\n")
  const file = await encrypt(plaintext, [await a.toRecipient(), await b.toRecipient()])
  assert.deepEqual(await decrypt(file, [b]), plaintext)
  assert.deepEqual(await decrypt(file, [generateX25519Identity(), a]), plaintext)
  await assert.rejects(decrypt(file, [generateHybridIdentity()]), { name: "NoIdentityMatchError" })
  const classic = generateX25519Identity().toRecipient()
  await assert.rejects(
    encrypt(plaintext, [await a.toRecipient(), classic]),
    IncompatibleRecipientsError,
  )
  await assert.rejects(
    encrypt(plaintext, [classic, await a.toRecipient()]),
    /can't mix post-quantum and classic recipients/,
  )
})
