/**
 * The keys a repository declares and the names people gave them (docs/audit.md "Keys and
 * identities"):
 *
 * - `.sops.yaml`: every anchored scalar that is a key (`- &dao age1…`), and every item of
 *   the top-level `keys:` list or of lists nested in it; the anchor is the name, and the
 *   mapping key a nested list sits under is the group (`keys: {hosts: [&dao …]}` puts `dao`
 *   in `hosts`);
 * - `secrets.nix`: every binding of a name to a string that is a public key
 *   (`dao = "ssh-ed25519 AAAA…";`), and lists of such names (`systems = [ dao web ];`) as
 *   groups. Nix is not evaluated here (`agenix/rules.ts` does that for the rules): the
 *   bindings are read from the source text, which is how people write these files; a key
 *   built by an expression simply has no name.
 * Pure: text in, declarations out.
 */
import { LineCounter, isMap, isPair, isScalar, isSeq, parseDocument, visit } from "yaml"
import type { KeyRef } from "./keys.js"
import { keyRefOfOpaque, keyRefOfPgp, keyRefOfRecipient } from "./keys.js"

/** A key written down in a rules file. */
export interface DeclaredKey {
  readonly key: KeyRef
  /** The YAML anchor or the Nix name, when there is one. */
  readonly name: string | undefined
  /** The list it was declared in (`hosts`, `systems`), when there is one. */
  readonly group: string | undefined
  /** The rules file, as the caller named it. */
  readonly file: string
  readonly line: number | undefined
}

/**
 * A key written as a scalar in `.sops.yaml`: an age or SSH recipient, a PGP fingerprint or
 * a KMS ARN.
 * @returns the key, or undefined when the text is not a key
 */
export function keyRefOfDeclaration(text: string): KeyRef | undefined {
  const trimmed = text.trim()
  if (/^[0-9A-Fa-f]{40}$/.test(trimmed.replaceAll(" ", "")) && trimmed.length >= 40) {
    return keyRefOfPgp(trimmed)
  }
  if (trimmed.startsWith("arn:aws:kms:")) return keyRefOfOpaque("kms", { fields: { arn: trimmed } })
  const ref = keyRefOfRecipient(trimmed)
  return ref.kind === "unknown" ? undefined : ref
}

/**
 * The keys `.sops.yaml` declares, with their anchors.
 * @param text the file's content (already known to parse: `policy/config.ts` read it)
 * @param file the file's name for the report
 * @returns the declarations in file order (a key may be declared more than once)
 */
export function declaredSopsKeys(text: string, file: string): DeclaredKey[] {
  const lineCounter = new LineCounter()
  const doc = parseDocument(text, { lineCounter, merge: true })
  if (doc.errors.length > 0) return []
  const out: DeclaredKey[] = []
  const keysNode = isMap(doc.contents) ? doc.contents.get("keys", true) : undefined
  visit(doc, {
    Scalar(_key, node, path) {
      if (typeof node.value !== "string") return
      const underKeys = path.some((p) => p === keysNode)
      if (node.anchor === undefined && !underKeys) return
      // the item of a list (or the value of a mapping) under keys:, or anchored anywhere
      const key = keyRefOfDeclaration(node.value)
      if (key === undefined) return
      const offset = node.range?.[0]
      out.push({
        key,
        name: node.anchor,
        group: groupOf(path, keysNode),
        file,
        line: offset === undefined ? undefined : lineCounter.linePos(offset).line,
      })
    },
  })
  return out
}

/** The nearest mapping key above a node, inside `keys:` (not `keys` itself). */
function groupOf(path: readonly unknown[], keysNode: unknown): string | undefined {
  for (let i = path.length - 1; i >= 0; i--) {
    const p = path[i]
    if (p === keysNode) return undefined
    if (isPair(p) && isScalar(p.key) && typeof p.key.value === "string" && isSeq(p.value)) {
      const name = p.key.value
      if (!["age", "pgp", "key_groups", "creation_rules", "keys"].includes(name)) return name
      return undefined
    }
  }
  return undefined
}

type NixToken =
  | { readonly kind: "ident"; readonly text: string; readonly line: number }
  | {
      readonly kind: "string"
      readonly text: string
      readonly line: number
      readonly plain: boolean
    }
  | { readonly kind: "punct"; readonly text: string; readonly line: number }

/** A small Nix lexer: names, strings (with escapes), punctuation; comments dropped. */
function lexNix(source: string): NixToken[] {
  const tokens: NixToken[] = []
  let i = 0
  let line = 1
  const n = source.length
  while (i < n) {
    const c = source.charAt(i)
    if (c === "\n") {
      line++
      i++
      continue
    }
    if (c === " " || c === "\t" || c === "\r") {
      i++
      continue
    }
    if (c === "#") {
      while (i < n && source.charAt(i) !== "\n") i++
      continue
    }
    if (c === "/" && source.charAt(i + 1) === "*") {
      const end = source.indexOf("*/", i + 2)
      const stop = end === -1 ? n : end + 2
      for (let j = i; j < stop; j++) if (source.charAt(j) === "\n") line++
      i = stop
      continue
    }
    if (c === '"') {
      const start = line
      let text = ""
      let plain = true
      i++
      while (i < n && source.charAt(i) !== '"') {
        const d = source.charAt(i)
        if (d === "\\" && i + 1 < n) {
          const e = source.charAt(i + 1)
          text += e === "n" ? "\n" : e === "t" ? "\t" : e === "r" ? "\r" : e
          i += 2
          continue
        }
        if (d === "$" && source.charAt(i + 1) === "{") plain = false
        if (d === "\n") line++
        text += d
        i++
      }
      i++
      tokens.push({ kind: "string", text, line: start, plain })
      continue
    }
    if (c === "'" && source.charAt(i + 1) === "'") {
      // an indented string: kept as a non-plain string (never a key binding here)
      const start = line
      i += 2
      while (i < n && !(source.charAt(i) === "'" && source.charAt(i + 1) === "'")) {
        if (source.charAt(i) === "\n") line++
        i++
      }
      i += 2
      tokens.push({ kind: "string", text: "", line: start, plain: false })
      continue
    }
    const ident = /^[A-Za-z_][A-Za-z0-9_'-]*/.exec(source.slice(i, i + 200))
    if (ident !== null) {
      tokens.push({ kind: "ident", text: ident[0], line })
      i += ident[0].length
      continue
    }
    tokens.push({ kind: "punct", text: c, line })
    i++
  }
  return tokens
}

/**
 * The keys a `secrets.nix` names: `NAME = "KEY";` bindings whose string is a public key,
 * grouped by the lists of names that hold them (`systems = [ dao web ];`).
 * @param source the file's Nix source
 * @param file the file's name for the report
 * @returns the declarations in file order
 */
export function declaredNixKeys(source: string, file: string): DeclaredKey[] {
  const tokens = lexNix(source)
  const bindings: { name: string; key: KeyRef; line: number }[] = []
  const groups = new Map<string, string>()
  for (let i = 0; i + 2 < tokens.length; i++) {
    const name = tokens[i]
    const eq = tokens[i + 1]
    const value = tokens[i + 2]
    if (name?.kind !== "ident" || eq?.kind !== "punct" || eq.text !== "=") continue
    if (value?.kind === "string" && value.plain && tokens[i + 3]?.text === ";") {
      const key = keyRefOfRecipient(value.text)
      if (key.kind !== "unknown") bindings.push({ name: name.text, key, line: name.line })
      continue
    }
    // the rules' own lists (`"x.age".publicKeys = [ … ]`) are uses, not groups
    if (value?.kind === "punct" && value.text === "[" && name.text !== "publicKeys") {
      for (let j = i + 3; j < tokens.length; j++) {
        const member = tokens[j]
        if (member === undefined || member.text === "]") break
        if (member.kind === "ident" && !groups.has(member.text)) groups.set(member.text, name.text)
      }
    }
  }
  return bindings.map((b) => ({
    key: b.key,
    name: b.name,
    group: groups.get(b.name),
    file,
    line: b.line,
  }))
}
