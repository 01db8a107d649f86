/**
 * The audit's HTML page in a real browser (docs/audit.md "HTML page"): Debian's Chromium,
 * driven by playwright-core, opens the page `coffer audit --html` wrote for the known
 * repository from disk. The matrix shows the right cells (stale ones marked), choosing an
 * identity hides the other identities and the files it has no access to, the secret
 * filter and sorting work, the page asks for nothing over the network, and a screenshot is
 * written into the test's temporary directory.
 */
import { test } from "node:test"
import assert from "node:assert/strict"
import { existsSync, mkdtempSync, rmSync, statSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { pathToFileURL } from "node:url"
import { runCli } from "../support/cli.js"
import { tmpTree } from "../support/tmp.js"
import { requireTool } from "../support/tools.js"
import { buildKnownRepository } from "./fixture.js"

const CHROMIUM = "/usr/bin/chromium"

/** The part of a DOM element the page functions use (this project compiles without the DOM library). */
interface DomElement {
  getAttribute(name: string): string | null
  querySelector(selector: string): DomElement | null
}

const pathsOf = (rows: DomElement[]): (string | null)[] =>
  rows.map((row) => row.getAttribute("data-path"))
const webAccessOf = (rows: DomElement[]): (string | null | undefined)[] =>
  rows.map((row) => row.querySelector('td[data-identity="web"]')?.getAttribute("data-access"))

test("the HTML page: cells, filtering by identity and secret, sorting, no network, a screenshot", async (t) => {
  if (!requireTool(t, "git", "git") || !requireTool(t, "nix-instantiate", "nix-bin")) return
  if (!requireTool(t, "chromium", "chromium")) return
  const dir = tmpTree(t)
  const repo = await buildKnownRepository(join(dir))
  const out = tmpTree(t)
  const page = join(out, "audit.html")
  const r = await runCli(["audit", "--html", page, "--fail-on", "never"], {
    cwd: repo.dir,
    env: { HOME: repo.dir },
  })
  assert.equal(r.status, 0, r.stderr)
  assert.match(r.stderr, /wrote /)

  const { chromium } = await import("playwright-core")
  const profile = mkdtempSync(join(tmpdir(), "coffer-test-chromium-"))
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
  })
  // Chromium still writes its session files for a moment after close() returns: remove the
  // profile until it stays gone
  t.after(async () => {
    await context.close()
    for (let i = 0; i < 40; i++) {
      rmSync(profile, { recursive: true, force: true })
      await new Promise((resolve) => setTimeout(resolve, 250))
      if (!existsSync(profile)) break
    }
  })
  const tab = await context.newPage()
  const requests: string[] = []
  tab.on("request", (request) => requests.push(request.url()))
  const errors: string[] = []
  tab.on("pageerror", (error) => errors.push(error.message))
  await tab.goto(pathToFileURL(page).href)

  const bob = (
    JSON.parse(
      (
        await runCli(["audit", "--json", "--fail-on", "never"], { cwd: repo.dir })
      ).stdout.toString(),
    ) as { identities: { id: string; keys: { key: string }[] }[] }
  ).identities.find((i) => i.keys.some((k) => k.key === repo.keys.bob.recipient))?.id
  assert.ok(bob !== undefined)

  const cell = (path: string, identity: string) =>
    tab.locator(`#matrix tr[data-path="${path}"] td[data-identity="${identity}"]`)
  assert.equal(await cell("secrets/dao/tailscale.yaml", "dao").getAttribute("data-access"), "read")
  assert.equal(await cell("secrets/dao/tailscale.yaml", "dao").textContent(), "●")
  assert.equal(await cell("secrets/dao/tailscale.yaml", "web").getAttribute("data-access"), "")
  assert.equal(await cell("secrets/web/api.json", "web").getAttribute("data-access"), "missing")
  assert.match((await cell("secrets/web/api.json", "web").getAttribute("class")) ?? "", /\bstale\b/)
  assert.equal(await cell("secrets/dao/db.yaml", bob).getAttribute("data-access"), "extra")
  assert.match((await cell("secrets/dao/db.yaml", bob).getAttribute("class")) ?? "", /\bstale\b/)
  assert.equal(await cell("secrets/shared/db.yaml", "alice").textContent(), "◐")
  assert.equal(
    await cell("secrets/agenix/tailscale.age", "carol").getAttribute("data-access"),
    "unverified",
  )
  const allRows = await tab.locator("#matrix tbody tr").count()
  assert.equal(allRows, 10)

  // filter by a host: only its column, only the files it has access to
  await tab.selectOption("#filter-identity", "dao")
  const visibleHeaders = await tab
    .locator("#matrix thead th[data-identity]:visible")
    .allTextContents()
  assert.deepEqual(visibleHeaders, ["dao"])
  const visibleRows = await tab.locator("#matrix tbody tr:visible").evaluateAll(pathsOf)
  assert.deepEqual(visibleRows, [
    "secrets/agenix/db.age",
    "secrets/agenix/tailscale.age",
    "secrets/dao/db.yaml",
    "secrets/dao/tailscale.yaml",
    "secrets/shared/db.yaml",
  ])
  assert.equal(await cell("secrets/web/api.json", "web").isVisible(), false)
  await tab.screenshot({ path: join(out, "audit-dao.png"), fullPage: true })

  // back to everyone; filter by secret
  await tab.selectOption("#filter-identity", "")
  await tab.fill("#filter-secret", "web/")
  assert.deepEqual(await tab.locator("#matrix tbody tr:visible").evaluateAll(pathsOf), [
    "secrets/web/api.json",
    "secrets/web/app.env",
    "secrets/web/edited.yaml",
  ])
  assert.equal((await tab.locator("#matrix thead th[data-identity]:visible").count()) > 1, true)
  await tab.fill("#filter-secret", "")

  // group filter: hosts only
  await tab.selectOption("#filter-group", "hosts")
  assert.deepEqual(await tab.locator("#matrix thead th[data-identity]:visible").allTextContents(), [
    "dao",
    "web",
  ])
  await tab.selectOption("#filter-group", "")

  // sort by path, descending on the second click; by an identity's access
  const header = tab.locator('#matrix thead th[data-sort="path"]')
  await header.click()
  await header.click()
  const order = await tab.locator("#matrix tbody tr").evaluateAll(pathsOf)
  assert.equal(order[0], "secrets/web/edited.yaml")
  assert.equal(order.at(-1), "other/orphan.yaml")
  await tab.locator('#matrix thead th[data-identity="web"]').click()
  await tab.locator('#matrix thead th[data-identity="web"]').click()
  const byWeb = await tab.locator("#matrix tbody tr").evaluateAll(webAccessOf)
  assert.equal(byWeb[0], "read")
  assert.equal(byWeb.at(-1), "")

  // the findings are on the page, with their fixes
  assert.equal(await tab.locator("#findings tbody tr").count(), 18)
  assert.match(
    (await tab.locator("#findings").textContent()) ?? "",
    /coffer updatekeys -y --rotate secrets\/dao\/db\.yaml/,
  )

  const shot = join(out, "audit.png")
  await tab.screenshot({ path: shot, fullPage: true })
  assert.ok(existsSync(shot) && statSync(shot).size > 1000)
  assert.deepEqual(errors, [])
  assert.deepEqual(
    requests.filter((u) => !u.startsWith("file:")),
    [],
    "the page must not load anything",
  )
})
