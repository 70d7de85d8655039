// What the browser scripts share: Debian's Chromium under playwright-core, axe-core for
// WCAG 2.1 AA, html-validate for the HTML as served, screenshots, and a record of checks.
//
// Nothing here downloads anything: the browser is /usr/bin/chromium (apt-get install
// chromium; scripts/test installs it), the packages come from package-lock.json (npm ci).

import * as fs from 'node:fs';
import * as path from 'node:path';

import { AxeBuilder } from '@axe-core/playwright';
import { HtmlValidate, StaticConfigLoader } from 'html-validate';
import { chromium } from 'playwright-core';

export const CHROMIUM = process.env.CHROMIUM ?? '/usr/bin/chromium';

/** The WCAG 2.1 A and AA rules (Swedish law: lagen om tillgänglighet till digital offentlig service). */
export const AXE_TAGS = ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa'];

/** A required environment variable, or exit with a message saying how to run the script. */
export function env(name) {
  const value = process.env[name];
  if (!value) {
    console.error(`${name} is not set. These scripts are started by tests/integration/browser.rs (./scripts/test).`);
    process.exit(2);
  }
  return value;
}

/** Headless Chromium as root on a machine without network but loopback. One launch per script. */
export async function launch() {
  if (!fs.existsSync(CHROMIUM)) {
    throw new Error(`${CHROMIUM} is missing: install Debian's chromium (./scripts/test does, as root)`);
  }
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--no-first-run',
    ],
  });
}

/**
 * The served HTML is checked as it came over the wire (not the DOM after scripts ran), with
 * html-validate's recommended rules, relaxed only where they disagree with a choice we made:
 * - `doctype-style`: the layout writes `<!doctype html>`, which HTML defines as
 *   case-insensitive (the WHATWG spec's own examples use lowercase);
 * - `tel-non-breaking`: telephone links carry `class="phone"`, which the stylesheet keeps on
 *   one line (`white-space: nowrap`), so the numbers keep the spaces people read them with
 *   ("020-50 50 50") instead of `&nbsp;` and non-breaking hyphens;
 * - `form-dup-name`: checkboxes may share a name, as radios do: a group of them sends the
 *   same key once per ticked box (`municipalities=1283&municipalities=1282`), the JSON API's
 *   list as the pages' forms carry it, without PHP's `[]` suffix.
 */
const validator = new HtmlValidate(new StaticConfigLoader({
  extends: ['html-validate:recommended'],
  rules: {
    'doctype-style': 'off',
    'tel-non-breaking': ['error', { ignoreClasses: ['phone'] }],
    'form-dup-name': ['error', { shared: ['radio', 'checkbox', 'button', 'reset', 'submit'] }],
  },
}));

/** The problems html-validate finds in `html`, as printable lines. */
export async function validateHtml(html, name) {
  const report = await validator.validateString(html, name);
  const problems = [];
  for (const result of report.results) {
    for (const m of result.messages) {
      problems.push(`${m.ruleId} (line ${m.line}:${m.column}${m.selector ? `, ${m.selector}` : ''}): ${m.message}`);
    }
  }
  return problems;
}

/** axe's WCAG 2.1 AA violations on the page as it is now, as printable lines. */
export async function axeViolations(page) {
  const results = await new AxeBuilder({ page }).withTags(AXE_TAGS).analyze();
  const lines = [];
  for (const v of results.violations) {
    lines.push(`${v.id} [${v.impact}] ${v.help} (${v.helpUrl})`);
    for (const node of v.nodes) {
      lines.push(`    at ${JSON.stringify(node.target)}: ${node.failureSummary?.replace(/\s+/g, ' ') ?? ''}`);
    }
  }
  return lines;
}

/** A file name for a screenshot: lowercase letters, digits and dashes. */
export function slug(text) {
  return text.toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-|-$/g, '') || 'page';
}

/**
 * A record of checks: each failure is printed when it happens and counted; `finish` prints
 * the summary and exits non-zero on any failure.
 */
export class Checks {
  constructor(script) {
    this.script = script;
    this.passed = 0;
    this.failures = [];
  }

  pass(what) {
    this.passed += 1;
    console.log(`ok      ${what}`);
  }

  fail(what, details = []) {
    this.failures.push(what);
    console.log(`FAILED  ${what}`);
    for (const line of details) console.log(`        ${line}`);
  }

  /** `lines` empty: passed; else failed with them. */
  expectNone(what, lines) {
    if (lines.length === 0) this.pass(what);
    else this.fail(what, lines);
  }

  expect(what, ok, details = []) {
    if (ok) this.pass(what);
    else this.fail(what, details);
  }

  /** Runs `body`; an exception fails `what` (with its message) instead of ending the script. */
  async step(what, body) {
    try {
      return await body();
    } catch (err) {
      this.fail(what, String(err?.stack ?? err).split('\n').slice(0, 12));
      return undefined;
    }
  }

  finish() {
    const summary = `${this.script}: ${this.passed} checks ok, ${this.failures.length} failing`;
    console.log(summary);
    if (this.failures.length) {
      console.log(`${this.script}: failing:`);
      for (const f of this.failures) console.log(`  - ${f}`);
    }
    process.exitCode = this.failures.length ? 1 : 0;
  }
}

/** Creates ARTIFACTS (and a subfolder) and answers its path. */
export function artifacts(sub) {
  const dir = path.join(env('ARTIFACTS'), sub);
  fs.mkdirSync(dir, { recursive: true });
  return dir;
}

/**
 * Collects the Content-Security-Policy violations a page reports in its console, and its
 * script errors: our pages have no inline scripts or styles, so a violation means something
 * on them is broken.
 */
export function watchCsp(page) {
  const violations = [];
  page.on('console', (msg) => {
    if (msg.type() === 'error' && /Content Security Policy/i.test(msg.text())) {
      violations.push(msg.text());
    }
  });
  page.on('pageerror', (err) => violations.push(`script error: ${err.message}`));
  return violations;
}

/**
 * The checks every page of ours gets once it is shown: axe (WCAG 2.1 AA), the HTML
 * validator on `html` (the body as served, when known), no CSP violations, and a full-page
 * screenshot as `<dir>/<name>.png`.
 */
export async function checkPage(checks, page, { label, html, dir, name, csp }) {
  await page.screenshot({ path: path.join(dir, `${slug(name)}.png`), fullPage: true });
  checks.expectNone(`${label}: axe WCAG 2.1 AA`, await axeViolations(page));
  if (html !== undefined) {
    checks.expectNone(`${label}: html-validate`, await validateHtml(html, `${slug(name)}.html`));
  }
  if (csp) {
    checks.expectNone(`${label}: no Content-Security-Policy violations or script errors`, csp.splice(0));
  }
}

/**
 * Runs `act` (a click or a key that submits a form or follows a link) and waits for the new
 * document to load: a form that answers on the same URL gives nothing else to wait for.
 */
export async function loads(page, act) {
  const navigated = page.waitForEvent('framenavigated', { predicate: (frame) => frame === page.mainFrame() });
  await act();
  await navigated;
  await page.waitForLoadState('load');
}

/**
 * Logs `page` in as a demo person through the /demo page, as a visitor would: the form whose
 * hidden fields carry `fields` (e.g. `{ role: 'caseworker', caseworker_id: '1283-01' }`; the
 * first such form when several match), its `<details>` group opened first, its button
 * clicked. Answers the path the login landed on.
 */
export async function demoLogin(page, baseUrl, fields) {
  await page.goto(`${baseUrl}/demo`);
  const has = Object.entries(fields)
    .map(([name, value]) => `:has(> input[type="hidden"][name="${name}"][value="${value}"])`)
    .join('');
  const form = page.locator(`form${has}`).first();
  if (!(await form.count())) throw new Error(`/demo has no login form for ${JSON.stringify(fields)}`);
  const group = page.locator('details').filter({ has: form });
  if ((await group.count()) && !(await group.first().evaluate((d) => d.open))) {
    await group.first().locator('summary').click();
  }
  await Promise.all([
    page.waitForURL((url) => url.pathname !== '/demo', { waitUntil: 'load' }),
    form.locator('button[type="submit"]').click(),
  ]);
  return new URL(page.url()).pathname;
}
