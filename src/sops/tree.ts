/**
 * The sops document model (docs/formats/sops.md "Documents and the tree walk",
 * docs/conventions.md "Documents and stores").
 *
 * A document is a list of branches (one per YAML document; one for every other format).
 * A branch is an ordered mapping; comments are items, so their order survives and the MAC,
 * which covers order, can be recomputed. Encrypted files use the same model: encrypted
 * values are `string` scalars holding `ENC[...]`, encrypted comments are comments whose
 * text is `ENC[...]`.
 */

/** A comment line (the text after `#` or `;`, leading space kept as sops keeps it). */
export interface Comment {
  readonly kind: "comment"
  readonly text: string
  /**
   * YAML only: the comment stood on the line of the next entry's scalar value (`a: 1 # c`),
   * and is written back there (docs/formats/sops.md "Comments"). Encrypting keeps it
   * inline; decrypting makes it a line of its own, as sops does.
   */
  readonly inline?: boolean
}

/** One `key: value` item of a mapping. Keys are always strings (sops refuses others). */
export interface Entry {
  readonly kind: "entry"
  readonly key: string
  readonly value: Node
}

/** An ordered mapping. */
export interface Mapping {
  readonly kind: "mapping"
  readonly items: readonly (Entry | Comment)[]
}

/** An ordered list; elements may be comments. */
export interface Sequence {
  readonly kind: "sequence"
  readonly items: readonly (Node | Comment)[]
}

/** A string (`type:str`). */
export interface StringScalar {
  readonly kind: "string"
  readonly value: string
}

/** An integer (`type:int`); bigint because sops keeps 64-bit integers exactly. */
export interface IntScalar {
  readonly kind: "int"
  readonly value: bigint
}

/** A float64 (`type:float`). */
export interface FloatScalar {
  readonly kind: "float"
  readonly value: number
}

/** A boolean (`type:bool`, hashed and encrypted as `True`/`False`). */
export interface BoolScalar {
  readonly kind: "bool"
  readonly value: boolean
}

/** A YAML timestamp (`type:time`, sops 3.10+), kept as its RFC 3339 text. */
export interface TimeScalar {
  readonly kind: "time"
  readonly value: string
}

/** Raw bytes (`type:bytes`: only produced by decrypting such a value). */
export interface BytesScalar {
  readonly kind: "bytes"
  readonly value: Uint8Array
}

/** A null value: never encrypted, never hashed. */
export interface NullScalar {
  readonly kind: "null"
}

/** A leaf of the tree: one value, with the type sops gives it (docs/formats/sops.md "Value types"). */
export type Scalar =
  StringScalar | IntScalar | FloatScalar | BoolScalar | TimeScalar | BytesScalar | NullScalar

/** Any value in the tree. */
export type Node = Mapping | Sequence | Scalar

/** A whole file: one branch per YAML document, exactly one for the other formats. */
export interface Document {
  readonly branches: readonly Mapping[]
}
