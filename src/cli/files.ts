/**
 * Reading inputs and writing outputs for the commands (docs/formats/age.md "The age and
 * age-keygen command lines" `-o`): standard streams or files, key files with a size limit,
 * and output files that are created lazily.
 *
 * Output files are opened on the first write, so a command that fails before producing
 * anything (no identity matched, wrong passphrase) leaves no file behind, and with the
 * default mode 0666 minus the caller's umask (agenix runs us under `umask u=r` and relies
 * on the file being born 0400). If a command fails after writing, a file we created is
 * removed; a file that existed before is left as age leaves it (holding only authenticated
 * plaintext, since the decryptor releases nothing else).
 */
import {
  closeSync,
  constants,
  createReadStream,
  fstatSync,
  lstatSync,
  openSync,
  readFileSync,
  readSync,
  statSync,
  unlinkSync,
  write,
  writeSync,
} from "node:fs"
import type { ByteSource } from "../age/parallel.js"
import type { FileTarget } from "../age/positional.js"
import { Readable } from "node:stream"
import { IoError, StdoutClosedError, UsageError } from "../internal/errors.js"
import { describeSystemError } from "../system/system-error.js"

/** Where a command's result goes. */
export interface Output {
  /** The name to show in messages (`"out.txt"` or `standard output`). */
  readonly name: string
  /** Whether this is standard output. */
  readonly isStdout: boolean
  write(bytes: Uint8Array): Promise<void>
  /** Finishes the output successfully. */
  close(): Promise<void>
  /** Abandons the output after a failure: removes the file if we created it. */
  discard(): Promise<void>
  /**
   * A regular output file only: its descriptor and where the next byte goes, for writes by
   * position from worker threads (see ByteSink.file); null when it can't be written so.
   */
  file?(): FileTarget | null
}

/** Standard input may be read only once; this remembers who used it. */
export class StdinClaim {
  private owner: string | undefined
  /**
   * Claims standard input for `purpose` (`the input`, `-i -`).
   * @throws UsageError if something else already reads it
   */
  claim(purpose: string): void {
    if (this.owner !== undefined) {
      throw new UsageError(`standard input can't be used for both ${this.owner} and ${purpose}`, {
        hints: ["give one of them as a file instead of -"],
      })
    }
    this.owner = purpose
  }
}

/**
 * Reads a whole small file (a key file, a recipients file), or standard input for `-`.
 * @param what for messages, e.g. `identity file`
 * @param limit the largest accepted size in bytes
 * @param stdin standard input, or a function returning it (creating process.stdin takes
 *   time, so a caller that reads it only for `-` can leave it uncreated for other paths)
 * @throws IoError when it can't be read or is too large
 */
export async function readSmallFile(
  path: string,
  what: string,
  limit: number,
  stdin: NodeJS.ReadableStream | (() => NodeJS.ReadableStream),
): Promise<Uint8Array> {
  let bytes: Uint8Array
  if (path === "-") {
    const chunks: Buffer[] = []
    let size = 0
    for await (const chunk of typeof stdin === "function" ? stdin() : stdin) {
      const b = typeof chunk === "string" ? Buffer.from(chunk) : chunk
      size += b.length
      if (size > limit) break
      chunks.push(b)
    }
    if (size > limit) throw new IoError(`${what} on standard input is larger than ${limit} bytes`)
    bytes = Buffer.concat(chunks)
  } else {
    try {
      const size = statSync(path).size
      if (size > limit) {
        throw new IoError(`${what} ${JSON.stringify(path)} is larger than ${limit} bytes`, {
          hints: [`is ${JSON.stringify(path)} really a ${what}?`],
        })
      }
      // read synchronously: a key file is small, and the thread pool would cost more to start
      bytes = readFileSync(path)
    } catch (cause) {
      if (cause instanceof IoError) throw cause
      throw new IoError(
        `can't read ${what} ${JSON.stringify(path)}: ${describeSystemError(cause)}`,
        {
          cause,
        },
      )
    }
  }
  return new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength)
}

/**
 * Opens the command's input as a Web stream: a file, or standard input when `path` is
 * undefined or `-`.
 * @throws IoError when the file can't be opened
 */
export function openInput(
  path: string | undefined,
  stdin: NodeJS.ReadStream,
): ReadableStream<Uint8Array> {
  if (path === undefined || path === "-") {
    return Readable.toWeb(stdin) as ReadableStream<Uint8Array>
  }
  const fd = openInputFile(path)
  const stream = createReadStream("", { fd, highWaterMark: 256 * 1024, autoClose: true })
  return Readable.toWeb(stream) as ReadableStream<Uint8Array>
}

/**
 * Opens an input file for reading (not standard input), for callers that read the
 * descriptor themselves with large reads (`coffer age` on big files).
 * @returns the open file descriptor; the caller closes it
 * @throws IoError when the file can't be opened or is a directory
 */
export function openInputFile(path: string): number {
  let fd: number
  try {
    fd = openSync(path, "r")
  } catch (cause) {
    throw new IoError(
      `can't open input file ${JSON.stringify(path)}: ${describeSystemError(cause)}`,
      {
        cause,
      },
    )
  }
  if (fstatSync(fd).isDirectory()) {
    closeSync(fd)
    throw new IoError(`can't open input file ${JSON.stringify(path)}: is a directory`)
  }
  return fd
}

/** Regular files up to this size are read synchronously by `smallFileSource`. */
const SMALL_FILE_SIZE = 1024 * 1024

/**
 * A byte source for a small regular file, read with synchronous reads: reading it
 * asynchronously would start libuv's thread pool, which costs more than the read.
 * @param fd the open file (from `openInputFile`); the caller closes it
 * @param name the quoted path, for error messages
 * @returns the source, or null when the file is large or not a regular file
 */
export function smallFileSource(fd: number, name: string): ByteSource | null {
  const stat = fstatSync(fd)
  if (!stat.isFile() || stat.size > SMALL_FILE_SIZE) return null
  return {
    read(into) {
      try {
        return Promise.resolve(readSync(fd, into, 0, into.length, null))
      } catch (cause) {
        return Promise.reject(
          new IoError(`cannot read ${name}: ${describeSystemError(cause)}`, { cause }),
        )
      }
    },
  }
}

/**
 * Refuses an output file that is the input file (writing would destroy the input).
 * @throws UsageError when both name the same file
 */
export function checkNotSameFile(input: string | undefined, output: string | undefined): void {
  if (input === undefined || input === "-" || output === undefined || output === "-") return
  try {
    const a = statSync(input)
    const b = statSync(output)
    if (a.dev === b.dev && a.ino === b.ino) {
      throw new UsageError(`input and output ${JSON.stringify(output)} are the same file`, {
        hints: ["write to a new file, then rename it over the input"],
      })
    }
  } catch (err) {
    if (err instanceof UsageError) throw err
    // One of them does not exist yet: they can't be the same.
  }
}

const pendingCleanups = new Set<() => void>()
let signalHandlerInstalled = false

function installSignalHandler(): void {
  if (signalHandlerInstalled) return
  signalHandlerInstalled = true
  for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"] as const) {
    process.once(signal, () => {
      for (const cleanup of pendingCleanups) cleanup()
      process.exit(signal === "SIGINT" ? 130 : 128 + (signal === "SIGTERM" ? 15 : 1))
    })
  }
}

/**
 * The command's output: standard output when `path` is undefined or `-`, else a file
 * created lazily on the first write (mode 0666 minus the umask, truncated if it exists).
 * Standard output is written straight to descriptor 1 (creating `process.stdout` costs
 * start-up time): the first MiB synchronously, the rest on libuv's thread pool; once a
 * write would block (a pipe another process made non-blocking), through `stdout()` from
 * then on. Its reader going away gives StdoutClosedError (or, through the stream, the
 * dispatcher's own EPIPE handling).
 */
export function createOutput(path: string | undefined, stdout: () => NodeJS.WriteStream): Output {
  if (path === undefined || path === "-") return stdoutOutput(stdout)
  return new LazyFileOutput(path)
}

const STDOUT_FD = 1

function stdoutOutput(stdout: () => NodeJS.WriteStream): Output {
  let stream: NodeJS.WriteStream | null = null
  let written = 0
  const viaStream = (bytes: Uint8Array, from: number): Promise<void> => {
    stream ??= stdout()
    const rest = bytes.subarray(from)
    const target = stream
    return new Promise<void>((resolve, reject) => {
      target.write(rest, (err) => {
        if (err) reject(err)
        else resolve()
      })
    })
  }
  const failure = (cause: unknown): Error =>
    (cause as NodeJS.ErrnoException | undefined)?.code === "EPIPE"
      ? new StdoutClosedError("standard output was closed by its reader", { cause })
      : new IoError(`can't write standard output: ${describeSystemError(cause)}`, { cause })
  const wouldBlock = (cause: unknown): boolean => {
    const code = (cause as NodeJS.ErrnoException | undefined)?.code
    return code === "EAGAIN" || code === "EWOULDBLOCK"
  }
  // large outputs: on libuv's thread pool, so that the command goes on (reading, handing
  // batches to workers) while a pipe drains
  const writeAsync = async (bytes: Uint8Array): Promise<void> => {
    let offset = 0
    while (offset < bytes.length) {
      const from = offset
      const n = await new Promise<number | null>((resolve, reject) => {
        write(STDOUT_FD, bytes, from, bytes.length - from, null, (err, count) => {
          if (err === null) resolve(count)
          else if (wouldBlock(err)) resolve(null)
          else reject(failure(err))
        })
      })
      if (n === null) {
        await viaStream(bytes, from)
        return
      }
      offset += n
    }
  }
  return {
    name: "standard output",
    isStdout: true,
    write: (bytes) => {
      if (stream !== null) return viaStream(bytes, 0)
      if (written >= SYNC_WRITE_LIMIT) return writeAsync(bytes)
      written += bytes.length
      let offset = 0
      while (offset < bytes.length) {
        try {
          // small outputs: synchronous, so a small decryption never starts the thread pool
          offset += writeSync(STDOUT_FD, bytes, offset, bytes.length - offset)
        } catch (cause) {
          // a non-blocking pipe: Node's stream waits for it to drain, without polling
          if (wouldBlock(cause)) return viaStream(bytes, offset)
          return Promise.reject(failure(cause))
        }
      }
      return Promise.resolve()
    },
    close: () => Promise.resolve(),
    discard: () => Promise.resolve(),
  }
}

/** Output files are written synchronously up to this many bytes, then asynchronously. */
const SYNC_WRITE_LIMIT = 1024 * 1024

class LazyFileOutput implements Output {
  readonly name: string
  readonly isStdout = false
  private readonly path: string
  /** The open descriptor (opened synchronously on the first write). */
  private fd: number | undefined
  private written = 0
  private created = false
  private readonly cleanup = (): void => {
    if (this.created) {
      try {
        unlinkSync(this.path)
      } catch {
        // already gone
      }
    }
  }

  constructor(path: string) {
    this.path = path
    this.name = JSON.stringify(path)
  }

  write(bytes: Uint8Array): Promise<void> {
    let fd: number
    try {
      fd = this.fd ?? this.openNow()
      if (this.written < SYNC_WRITE_LIMIT) {
        // small outputs: synchronous, so a small decryption never starts the thread pool
        let offset = 0
        while (offset < bytes.length) {
          offset += writeSync(fd, bytes, offset, bytes.length - offset)
        }
        this.written += bytes.length
        return Promise.resolve()
      }
    } catch (cause) {
      if (cause instanceof IoError) return Promise.reject(cause)
      return Promise.reject(
        new IoError(`can't write ${this.name}: ${describeSystemError(cause)}`, { cause }),
      )
    }
    // large outputs: asynchronous, so writing overlaps with reading and the workers
    return this.writeAsync(fd, bytes)
  }

  private async writeAsync(fd: number, bytes: Uint8Array): Promise<void> {
    let offset = 0
    while (offset < bytes.length) {
      const start = offset
      offset += await new Promise<number>((resolve, reject) => {
        write(fd, bytes, start, bytes.length - start, null, (err, n) => {
          if (err) {
            reject(
              new IoError(`can't write ${this.name}: ${describeSystemError(err)}`, { cause: err }),
            )
          } else resolve(n)
        })
      })
    }
    this.written += bytes.length
  }

  file(): FileTarget | null {
    // Not opened yet (decryption): open without truncating, so that an existing file keeps
    // its content until the first plaintext is released, which then cuts it first.
    const truncateOnFirstWrite = this.fd === undefined
    let fd: number
    try {
      fd = this.fd ?? this.openNow(constants.O_WRONLY | constants.O_CREAT)
    } catch {
      return null
    }
    if (!fstatSync(fd).isFile()) return null
    return { fd, start: this.written, name: this.name, truncateOnFirstWrite }
  }

  private openNow(flags: string | number = "w"): number {
    let existed = true
    try {
      lstatSync(this.path)
    } catch {
      existed = false
    }
    let fd: number
    try {
      // "w": O_CREAT|O_TRUNC with mode 0666, which the kernel reduces by the umask.
      fd = openSync(this.path, flags, 0o666)
    } catch (cause) {
      throw new IoError(
        `can't create output file ${JSON.stringify(this.path)}: ${describeSystemError(cause)}`,
        { cause },
      )
    }
    if (fstatSync(fd).isDirectory()) {
      closeSync(fd)
      throw new IoError(`output ${JSON.stringify(this.path)} is a directory`)
    }
    this.fd = fd
    this.created = !existed
    if (this.created) {
      pendingCleanups.add(this.cleanup)
      installSignalHandler()
    }
    return fd
  }

  close(): Promise<void> {
    pendingCleanups.delete(this.cleanup)
    try {
      if (this.fd === undefined) {
        // Nothing was written (an empty result): still create the file, as age does.
        this.openNow()
        pendingCleanups.delete(this.cleanup)
      }
      if (this.fd !== undefined) closeSync(this.fd)
      this.fd = undefined
      return Promise.resolve()
    } catch (cause) {
      if (cause instanceof IoError) return Promise.reject(cause)
      return Promise.reject(
        new IoError(`can't finish writing ${this.name}: ${describeSystemError(cause)}`, {
          cause,
        }),
      )
    }
  }

  discard(): Promise<void> {
    pendingCleanups.delete(this.cleanup)
    try {
      if (this.fd !== undefined) closeSync(this.fd)
    } catch {
      // the file is being abandoned anyway
    }
    this.fd = undefined
    this.cleanup()
    return Promise.resolve()
  }
}
