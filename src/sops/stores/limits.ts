/**
 * Limits that keep hostile documents from exhausting the stack, time or memory
 * (docs/documents.md "Limits"). Every store checks nesting depth; the YAML store also
 * bounds alias expansion, by count as go-yaml v3 does and by size as go-yaml does not.
 * A document over a limit gives DocumentLimitError, which callers can tell from other
 * parse errors (install treats it as a failing secret, like any other bad source).
 */
import { DocumentLimitError } from "../errors.js"

/**
 * The deepest nesting of mappings and lists coffer reads (sops/go-yaml accept 10,000 flow
 * levels; coffer's parsers, walk and emitters recurse, and Node's stack is fixed, so the
 * limit sits far below where they would run out of it). Real files nest a dozen levels.
 */
export const MAX_NESTING_DEPTH = 256

/**
 * @param where the file and line, for the message (`file "a.yaml" line 3: `)
 * @returns the error for a document nested deeper than `MAX_NESTING_DEPTH`
 */
export function tooDeep(where: string): DocumentLimitError {
  return new DocumentLimitError(
    `${where}the document is nested more than ${String(MAX_NESTING_DEPTH)} levels deep`,
    { hints: ["coffer refuses deeper documents so that hostile input cannot exhaust its stack"] },
  )
}

// go-yaml v3's alias budget (decode.go `allowedAliasRatio`): up to 400,000 decoded nodes,
// 99% of them may come from alias expansion; from 4,000,000, 10%; linear in between.
// https://github.com/yaml/go-yaml/blob/v3.0.4/decode.go
const RATIO_RANGE_LOW = 400_000
const RATIO_RANGE_HIGH = 4_000_000

function allowedAliasRatio(decoded: number): number {
  if (decoded <= RATIO_RANGE_LOW) return 0.99
  if (decoded >= RATIO_RANGE_HIGH) return 0.1
  return 0.99 - (0.89 * (decoded - RATIO_RANGE_LOW)) / (RATIO_RANGE_HIGH - RATIO_RANGE_LOW)
}

/** Scalar text aliases may add, beyond `ALIAS_BYTES_PER_INPUT_BYTE` times the input. */
const ALIAS_BYTES_BASE = 1024 * 1024
/** How much scalar text aliases may add per byte of input. */
const ALIAS_BYTES_PER_INPUT_BYTE = 4

/**
 * Counts what reading one YAML document produces, and refuses excessive aliasing: by
 * count with go-yaml's rule (more than 100 nodes from aliases, more than 1,000 in all, and
 * a share from aliases above go-yaml's allowed ratio), and by size (the scalar text aliases
 * bring in may not exceed 4 times the input plus 1 MiB: go-yaml counts nodes only, so a
 * small file aliasing one long string 300,000 times passes it).
 */
export class AliasBudget {
  #decoded = 0
  #fromAliases = 0
  #aliasBytes = 0
  #depth = 0
  readonly #maxAliasBytes: number

  /** @param inputLength the length of the whole input text */
  constructor(inputLength: number) {
    this.#maxAliasBytes = ALIAS_BYTES_BASE + ALIAS_BYTES_PER_INPUT_BYTE * inputLength
  }

  /**
   * Counts one node (a key, a value, a list item, an alias).
   * @param where the message prefix naming the file and line (computed only for a message)
   * @param textLength the length of a scalar's text
   * @throws DocumentLimitError when aliasing is excessive
   */
  node(where: () => string, textLength = 0): void {
    this.#decoded++
    if (this.#depth > 0) {
      this.#fromAliases++
      this.#aliasBytes += textLength
      if (this.#aliasBytes > this.#maxAliasBytes) {
        throw new DocumentLimitError(
          `${where()}the document's aliases expand to more than ${mebibytes(this.#maxAliasBytes)} of values`,
          { hints: ALIAS_HINTS },
        )
      }
    }
    if (
      this.#fromAliases > 100 &&
      this.#decoded > 1000 &&
      this.#fromAliases / this.#decoded > allowedAliasRatio(this.#decoded)
    ) {
      throw new DocumentLimitError(
        `${where()}the document contains excessive aliasing (${String(this.#fromAliases)} of ${String(this.#decoded)} nodes come from aliases)`,
        { hints: ALIAS_HINTS },
      )
    }
  }

  /** Runs `read` as the expansion of an alias. */
  expand<T>(read: () => T): T {
    this.#depth++
    try {
      return read()
    } finally {
      this.#depth--
    }
  }
}

const ALIAS_HINTS: readonly string[] = [
  "anchors and aliases that expand to a huge document (a YAML bomb) are refused, as go-yaml refuses them",
  "write the values out instead of aliasing them",
]

function mebibytes(bytes: number): string {
  return `${(bytes / 1024 / 1024).toFixed(0)} MiB`
}
