/**
 * Runs typage (npm `age-encryption`, docs/formats/age.md "Other implementations") on a file with its streaming API, as a
 * child process of the age benchmark: `node dist/bench/typage-child.js encrypt|decrypt IN OUT KEY`
 * where KEY is the recipient (`age1…`) to encrypt to, or the path of an identity file to
 * decrypt with. Reads and writes through Node streams converted to Web streams.
 */
import { createReadStream, createWriteStream, readFileSync } from "node:fs"
import { Readable, Writable } from "node:stream"
import { Decrypter, Encrypter } from "age-encryption"

async function main(argv: readonly string[]): Promise<void> {
  const [mode, input, output, key] = argv
  if (input === undefined || output === undefined || key === undefined) {
    throw new Error("usage: typage-child.js encrypt|decrypt IN OUT KEY")
  }
  const source = Readable.toWeb(createReadStream(input, { highWaterMark: 1 << 20 }))
  let result: ReadableStream<Uint8Array>
  if (mode === "encrypt") {
    const encrypter = new Encrypter()
    encrypter.addRecipient(key)
    result = await encrypter.encrypt(source as ReadableStream<Uint8Array>)
  } else if (mode === "decrypt") {
    const secret = readFileSync(key, "utf8")
      .split("\n")
      .find((line) => line.startsWith("AGE-SECRET-KEY-1"))
    if (secret === undefined) throw new Error(`no identity in ${key}`)
    const decrypter = new Decrypter()
    decrypter.addIdentity(secret)
    result = await decrypter.decrypt(source as ReadableStream<Uint8Array>)
  } else {
    throw new Error(`unknown mode ${String(mode)}`)
  }
  const sink = Writable.toWeb(createWriteStream(output)) as WritableStream<Uint8Array>
  await result.pipeTo(sink)
}

await main(process.argv.slice(2))
