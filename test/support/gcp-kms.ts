/**
 * A stand-in for Google Cloud KMS's REST API on loopback, for tests where the real
 * emulator cannot be installed (docs/formats/sops-cloud-keys.md "What is proven how"). It
 * follows the public v1 API: `POST /v1/{cryptoKey}:encrypt` with `{"plaintext"}` answers
 * `{"name", "ciphertext"}`, `:decrypt` with `{"ciphertext"}` answers `{"plaintext"}`, both
 * base64; errors are `{"error": {"code", "message", "status"}}` with the documented
 * statuses (UNAUTHENTICATED 401, PERMISSION_DENIED 403, NOT_FOUND 404,
 * FAILED_PRECONDITION 400 for a disabled key, INVALID_ARGUMENT 400 for a ciphertext it
 * cannot open). Each key seals with AES-256-GCM under a random key of its own. Every
 * request is recorded (path and body field names) so a test can compare what coffer and
 * sops send. Closed after the test.
 */
import { createCipheriv, createDecipheriv, randomBytes } from "node:crypto"
import { createServer } from "node:http"
import type { AddressInfo } from "node:net"
import type { TestContext } from "node:test"

export interface GcpKmsStandIn {
  /** `http://127.0.0.1:PORT` (for SOPS_GCP_KMS_ENDPOINT). */
  readonly endpoint: string
  /** The bearer token it accepts. */
  readonly token: string
  /** Adds a key; returns its resource ID. */
  addKey(name: string): string
  /** Sets a key's state. */
  setState(resourceId: string, state: "ENABLED" | "DISABLED" | "DENIED"): void
  /** `METHOD path {body fields}` of each request, in order. */
  readonly requests: string[]
}

/** Starts the stand-in on 127.0.0.1. */
export async function startGcpKmsStandIn(t: TestContext): Promise<GcpKmsStandIn> {
  const token = `ya29.coffer-test-${randomBytes(6).toString("hex")}`
  const keys = new Map<string, { secret: Buffer; state: "ENABLED" | "DISABLED" | "DENIED" }>()
  const requests: string[] = []
  const server = createServer((req, res) => {
    const chunks: Buffer[] = []
    req.on("data", (c: Buffer) => chunks.push(c))
    req.on("end", () => {
      const fail = (code: number, status: string, message: string): void => {
        res.writeHead(code, { "content-type": "application/json" })
        res.end(JSON.stringify({ error: { code, message, status } }))
      }
      const path = (req.url ?? "").split("?")[0] ?? ""
      let body: Record<string, unknown> = {}
      try {
        body = JSON.parse(Buffer.concat(chunks).toString("utf8") || "{}") as Record<string, unknown>
      } catch {
        fail(400, "INVALID_ARGUMENT", "Invalid JSON payload received.")
        return
      }
      requests.push(`${req.method ?? ""} ${path} ${Object.keys(body).sort().join(",")}`)
      if (req.headers.authorization !== `Bearer ${token}`) {
        fail(401, "UNAUTHENTICATED", "Request had invalid authentication credentials.")
        return
      }
      const m =
        /^\/v1\/(projects\/[^/]+\/locations\/[^/]+\/keyRings\/[^/]+\/cryptoKeys\/[^/:]+):(encrypt|decrypt)$/.exec(
          path,
        )
      if (req.method !== "POST" || m === null) {
        fail(404, "NOT_FOUND", `no such method ${path}`)
        return
      }
      const [, name = "", action] = m
      const key = keys.get(name)
      if (key === undefined) {
        fail(404, "NOT_FOUND", `CryptoKey ${name} not found.`)
        return
      }
      if (key.state === "DENIED") {
        fail(
          403,
          "PERMISSION_DENIED",
          `Permission 'cloudkms.cryptoKeyVersions.useTo${action === "encrypt" ? "Encrypt" : "Decrypt"}' denied on resource '${name}' (or it may not exist).`,
        )
        return
      }
      if (key.state === "DISABLED") {
        fail(
          400,
          "FAILED_PRECONDITION",
          `${name}/cryptoKeyVersions/1 is not enabled, current state is: DISABLED.`,
        )
        return
      }
      res.writeHead(200, { "content-type": "application/json" })
      if (action === "encrypt") {
        const plaintext = Buffer.from(
          typeof body["plaintext"] === "string" ? body["plaintext"] : "",
          "base64",
        )
        const iv = randomBytes(12)
        const cipher = createCipheriv("aes-256-gcm", key.secret, iv)
        const sealed = Buffer.concat([
          iv,
          cipher.update(plaintext),
          cipher.final(),
          cipher.getAuthTag(),
        ])
        res.end(
          JSON.stringify({
            name: `${name}/cryptoKeyVersions/1`,
            ciphertext: sealed.toString("base64"),
            protectionLevel: "SOFTWARE",
          }),
        )
        return
      }
      const sealed = Buffer.from(
        typeof body["ciphertext"] === "string" ? body["ciphertext"] : "",
        "base64",
      )
      try {
        const decipher = createDecipheriv("aes-256-gcm", key.secret, sealed.subarray(0, 12))
        decipher.setAuthTag(sealed.subarray(sealed.length - 16))
        const plaintext = Buffer.concat([
          decipher.update(sealed.subarray(12, sealed.length - 16)),
          decipher.final(),
        ])
        res.end(
          JSON.stringify({
            plaintext: plaintext.toString("base64"),
            usedPrimary: true,
            protectionLevel: "SOFTWARE",
          }),
        )
      } catch {
        res.statusCode = 400
        res.end(
          JSON.stringify({
            error: {
              code: 400,
              message: "Decryption failed: the ciphertext is invalid.",
              status: "INVALID_ARGUMENT",
            },
          }),
        )
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
  const port = (server.address() as AddressInfo).port
  return {
    endpoint: `http://127.0.0.1:${String(port)}`,
    token,
    addKey: (name) => {
      const id = `projects/coffer-test/locations/global/keyRings/ring/cryptoKeys/${name}`
      keys.set(id, { secret: randomBytes(32), state: "ENABLED" })
      return id
    },
    setState: (id, state) => {
      const key = keys.get(id)
      if (key !== undefined) key.state = state
    },
    requests,
  }
}
