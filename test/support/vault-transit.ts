/**
 * A stand-in for HashiCorp Vault's transit secrets engine on loopback (Vault cannot be
 * installed here: its module carries replace directives). It follows the documented
 * HTTP API: `PUT` (or `POST`) `/v1/{mount}/encrypt/{name}` with `{"plaintext": base64}` answers
 * `{"data": {"ciphertext": "vault:v1:…", "key_version": 1}}` (creating the key on first
 * use, as Vault's transit does by default), `/v1/{mount}/decrypt/{name}` with
 * `{"ciphertext"}` answers `{"data": {"plaintext": base64}}`; the token comes in
 * `X-Vault-Token`; errors are `{"errors": [...]}` with 403 for a denied token or path and
 * 400 for an unknown key or a ciphertext it cannot open. Requests are recorded; the
 * server is closed after the test.
 */
import { createCipheriv, createDecipheriv, randomBytes } from "node:crypto"
import { createServer } from "node:http"
import type { AddressInfo } from "node:net"
import type { TestContext } from "node:test"

export interface VaultStandIn {
  /** `http://127.0.0.1:PORT`. */
  readonly address: string
  /** The token it accepts. */
  readonly token: string
  /** Paths (`transit/decrypt/k1`) the token may not use. */
  readonly denied: Set<string>
  /** `METHOD path {body fields}` of each request. */
  readonly requests: string[]
}

/** Starts the stand-in on 127.0.0.1. */
export async function startVaultStandIn(t: TestContext, mount = "transit"): Promise<VaultStandIn> {
  const token = `hvs.coffer-test-${randomBytes(6).toString("hex")}`
  const keys = new Map<string, Buffer>()
  const denied = new Set<string>()
  const requests: string[] = []
  const server = createServer((req, res) => {
    const chunks: Buffer[] = []
    req.on("data", (c: Buffer) => chunks.push(c))
    req.on("end", () => {
      const answer = (code: number, body: unknown): void => {
        res.writeHead(code, { "content-type": "application/json" })
        res.end(JSON.stringify(body))
      }
      const path = (req.url ?? "").split("?")[0] ?? ""
      let body: Record<string, unknown> = {}
      try {
        body = JSON.parse(Buffer.concat(chunks).toString("utf8") || "{}") as Record<string, unknown>
      } catch {
        answer(400, { errors: ["failed to parse JSON input"] })
        return
      }
      requests.push(`${req.method ?? ""} ${path} ${Object.keys(body).sort().join(",")}`)
      if (req.headers["x-vault-token"] !== token) {
        answer(403, { errors: ["permission denied"] })
        return
      }
      const m = new RegExp(`^/v1/${mount}/(encrypt|decrypt)/([^/]+)$`).exec(path)
      if (req.method !== "POST" && req.method !== "PUT") {
        answer(405, { errors: [] })
        return
      }
      if (m === null) {
        answer(404, { errors: [`no handler for route "${path.slice(4)}"`] })
        return
      }
      const [, action = "", name = ""] = m
      if (denied.has(`${mount}/${action}/${name}`)) {
        answer(403, { errors: ["1 error occurred:\n\t* permission denied\n\n"] })
        return
      }
      const field = (k: string): string => (typeof body[k] === "string" ? body[k] : "")
      if (action === "encrypt") {
        let secret = keys.get(name)
        if (secret === undefined) {
          secret = randomBytes(32)
          keys.set(name, secret)
        }
        const iv = randomBytes(12)
        const cipher = createCipheriv("aes-256-gcm", secret, iv)
        const sealed = Buffer.concat([
          iv,
          cipher.update(Buffer.from(field("plaintext"), "base64")),
          cipher.final(),
          cipher.getAuthTag(),
        ])
        answer(200, {
          data: { ciphertext: `vault:v1:${sealed.toString("base64")}`, key_version: 1 },
        })
        return
      }
      const secret = keys.get(name)
      if (secret === undefined) {
        answer(400, { errors: ["encryption key not found"] })
        return
      }
      const text = field("ciphertext")
      try {
        if (!text.startsWith("vault:v1:")) throw new Error("no version prefix")
        const sealed = Buffer.from(text.slice("vault:v1:".length), "base64")
        const decipher = createDecipheriv("aes-256-gcm", secret, sealed.subarray(0, 12))
        decipher.setAuthTag(sealed.subarray(sealed.length - 16))
        const plaintext = Buffer.concat([
          decipher.update(sealed.subarray(12, sealed.length - 16)),
          decipher.final(),
        ])
        answer(200, { data: { plaintext: plaintext.toString("base64") } })
      } catch {
        answer(400, { errors: ["cipher: message authentication failed"] })
      }
    })
  })
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve))
  t.after(
    () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections()
        server.close(() => {
          resolve()
        })
      }),
  )
  return {
    address: `http://127.0.0.1:${String((server.address() as AddressInfo).port)}`,
    token,
    denied,
    requests,
  }
}
