// A node:test reporter that counts outcomes and writes them as one JSON line when the run
// ends; scripts/run-tests.mjs prints the plain summary line from it. Suites (describe) are
// not counted, only tests; a skipped or todo test counts as skipped. A file that fails to
// load reports a failed test of its own, so it counts as a failure.
export default async function* countReporter(source) {
  const counts = { passed: 0, failed: 0, skipped: 0 }
  for await (const event of source) {
    if (event.type !== "test:pass" && event.type !== "test:fail") continue
    const data = event.data
    if (data.details?.type === "suite") continue
    if (data.skip !== undefined && data.skip !== false) counts.skipped++
    else if (data.todo !== undefined && data.todo !== false) counts.skipped++
    else if (event.type === "test:pass") counts.passed++
    else counts.failed++
  }
  yield `${JSON.stringify(counts)}\n`
}
