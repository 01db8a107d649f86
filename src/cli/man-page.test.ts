/**
 * renderManPage: help text to roff (docs/conventions.md "Man pages"). The rendering of
 * every real page is checked with `man` in test/cli/man.test.ts; these pin the roff itself.
 */
import { test } from "node:test"
import assert from "node:assert/strict"
import { manSectionName, renderManPage } from "./man-page.js"

const help = `Usage:
    coffer thing [FLAGS] FILE

Does a thing to FILE.
.dotfiles and 'quoted' words start lines here, and a \\ backslash.

Flags:
    -i, --in-place      Replace FILE.
    --long-flag-with-a-long-name N
                        A description on the next line,
                        and a second line.

Exit status:
    0   ok
    1   not ok

Examples:
    $ coffer thing -i FILE
    output line
`

function render(): string {
  return renderManPage({
    name: "coffer-thing",
    summary: "do a thing",
    help,
    version: "9.9.9",
    seeAlso: ["coffer"],
  })
}

test("headings become sections: Usage is SYNOPSIS, Flags OPTIONS, others in capitals", () => {
  assert.equal(manSectionName("Usage"), "SYNOPSIS")
  assert.equal(manSectionName("Flags"), "OPTIONS")
  assert.equal(manSectionName("Options"), "OPTIONS")
  assert.equal(manSectionName("Exit status"), "EXIT STATUS")
  const sections = [...render().matchAll(/^\.SH (.*)$/gm)].map((m) => m[1])
  assert.deepEqual(sections, [
    "NAME",
    "SYNOPSIS",
    "DESCRIPTION",
    "OPTIONS",
    "EXIT STATUS",
    "EXAMPLES",
    "SEE ALSO",
  ])
})

test("the header names the page and version; NAME is the summary", () => {
  const page = render()
  assert.match(page, /^\.TH COFFER\\-THING 1 "" "coffer 9\.9\.9" "coffer manual"$/m)
  assert.match(page, /^\.SH NAME\ncoffer\\-thing \\- do a thing$/m)
  assert.match(page, /^\.nh\n\.ad l$/m)
})

test("roff is escaped: dashes, backslashes, lines starting with . or '", () => {
  const page = render()
  assert.match(page, /^\\&\.dotfiles and 'quoted' words start lines here, and a \\e backslash\.$/m)
  assert.match(page, /^\.TP\n\\fB\\-i, \\-\\-in\\-place\\fR\nReplace FILE\.$/m)
  // no line of text may start a request by accident
  for (const line of page.split("\n")) {
    if (/^[.']/.test(line)) assert.match(line, /^\.(TH|nh|ad|SH|TP|PP|nf|fi|\\")( |$)/, line)
  }
})

test("a flag's description may go on below it; short heads share their line", () => {
  const page = render()
  assert.match(
    page,
    /^\.TP\n\\fB\\-\\-long\\-flag\\-with\\-a\\-long\\-name N\\fR\nA description on the next line,\nand a second line\.$/m,
  )
  assert.match(page, /^\.TP 3\n\\fB0\\fR\nok\n\.TP 3\n\\fB1\\fR\nnot ok$/m)
})

test("the synopsis and examples stay preformatted", () => {
  const page = render()
  assert.match(page, /^\.SH SYNOPSIS\n\.nf\ncoffer thing \[FLAGS\] FILE\n\.fi$/m)
  assert.match(page, /^\.SH EXAMPLES\n\.nf\n\$ coffer thing \\-i FILE\noutput line\n\.fi$/m)
  assert.match(page, /^\.SH SEE ALSO\n\\fBcoffer\\fR\(1\)\n$/m)
})
