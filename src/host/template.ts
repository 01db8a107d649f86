/**
 * Templates: config files with secrets inside, rendered from placeholders as sops-nix does
 * (docs/host/sops-nix-manifest.md "Templates", "Template entries", "The install, step by
 * step" step 7). The template text holds only placeholder strings (`<SOPS:<sha256 of the
 * secret name>:PLACEHOLDER>`); rendering replaces each with the secret's plaintext.
 *
 * Pure. One difference from sops-install-secrets, which replaces secret by secret in map
 * order: here the text is scanned once, left to right, and inserted values are never
 * scanned again, so a secret that happens to contain a placeholder is not expanded and the
 * output does not depend on an ordering.
 */
import { createHash } from "node:crypto"
import { TemplateRenderError } from "./errors.js"
import { InternalError } from "../internal/errors.js"

const encoder = new TextEncoder()

/** sops-nix's placeholder shape (modules/sops/templates): 64 lowercase hex digits. */
const placeholderShape = /<SOPS:[0-9a-f]{64}:PLACEHOLDER>/g

/**
 * The placeholder sops-nix puts in templates for a secret (`sops.placeholder.<name>`).
 * @param secretName the secret's name
 * @returns `<SOPS:` + sha256(name) in hex + `:PLACEHOLDER>`
 */
export function placeholderFor(secretName: string): string {
  const hash = createHash("sha256").update(secretName, "utf8").digest("hex")
  return `<SOPS:${hash}:PLACEHOLDER>`
}

/**
 * The placeholders a template's text uses: every string of sops-nix's placeholder shape,
 * plus any of the `known` placeholders (a manifest may use other strings), each once, in
 * order of first appearance.
 * @param content the template text
 * @param known the placeholder strings of the manifest (`placeholderBySecretName` values)
 */
export function findPlaceholders(content: string, known: ReadonlySet<string>): string[] {
  const found = new Set<string>()
  for (const match of content.matchAll(placeholderPattern(known))) found.add(match[0])
  return [...found]
}

/**
 * One left-to-right scan for placeholders: the known strings longest first (so a
 * placeholder that is a prefix of another never wins), then sops-nix's shape.
 */
function placeholderPattern(known: Iterable<string>): RegExp {
  const alternatives = [...known]
    .filter((p) => p !== "")
    .sort((a, b) => b.length - a.length)
    .map(escapeRegExp)
  alternatives.push(placeholderShape.source)
  return new RegExp(alternatives.join("|"), "g")
}

/**
 * The names of the secrets a template uses, in order of first appearance.
 * @param content the template text
 * @param placeholderBySecretName the manifest's placeholder map
 */
export function secretsUsedBy(
  content: string,
  placeholderBySecretName: ReadonlyMap<string, string>,
): string[] {
  const byPlaceholder = invert(placeholderBySecretName)
  return findPlaceholders(content, new Set(byPlaceholder.keys())).flatMap((p) => {
    const name = byPlaceholder.get(p)
    return name === undefined ? [] : [name]
  })
}

/**
 * Renders a template: each placeholder is replaced by its secret's plaintext bytes.
 * Text outside placeholders is UTF-8; secret bytes are copied as they are.
 * @param templateName the template's name, for messages
 * @param content the template text
 * @param placeholderBySecretName the manifest's placeholder map
 * @param valueBySecretName the plaintext of every secret that could be produced
 * @returns the rendered bytes (the caller wipes them when done)
 * @throws TemplateRenderError when a placeholder's secret has no value (it failed, or it
 *   is not in this manifest); the message names the secret, never a value
 */
export function renderTemplate(
  templateName: string,
  content: string,
  placeholderBySecretName: ReadonlyMap<string, string>,
  valueBySecretName: ReadonlyMap<string, Uint8Array>,
): Uint8Array {
  const byPlaceholder = invert(placeholderBySecretName)
  const used = findPlaceholders(content, new Set(byPlaceholder.keys()))
  const missing = used.filter((p) => {
    const name = byPlaceholder.get(p)
    return name === undefined || !valueBySecretName.has(name)
  })
  if (missing.length > 0) {
    const names = missing.map((p) => {
      const name = byPlaceholder.get(p)
      return name === undefined ? `unknown placeholder ${JSON.stringify(p)}` : JSON.stringify(name)
    })
    throw new TemplateRenderError(
      `template ${JSON.stringify(templateName)}: no value for ${names.join(", ")}`,
      { hints: ["the template is left as it was; fix the secrets it uses and run again"] },
    )
  }
  if (used.length === 0) return encoder.encode(content)
  const pattern = placeholderPattern(byPlaceholder.keys())
  const parts: Uint8Array[] = []
  let last = 0
  for (const match of content.matchAll(pattern)) {
    parts.push(encoder.encode(content.slice(last, match.index)))
    const name = byPlaceholder.get(match[0])
    const value = name === undefined ? undefined : valueBySecretName.get(name)
    if (value === undefined)
      throw new InternalError("template placeholder without a value after the check")
    parts.push(value)
    last = match.index + match[0].length
  }
  parts.push(encoder.encode(content.slice(last)))
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0))
  let offset = 0
  for (const part of parts) {
    out.set(part, offset)
    offset += part.length
  }
  // The text pieces are copies of public template text; only `out` holds secrets.
  return out
}

function invert(map: ReadonlyMap<string, string>): Map<string, string> {
  const inverse = new Map<string, string>()
  for (const [name, placeholder] of map) inverse.set(placeholder, name)
  return inverse
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")
}
