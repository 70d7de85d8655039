// The administrators' pages in a real browser (issue 22, point 8), against the demo application
// that tests/integration/browser.rs starts (seeded federation, demo logins).
//
//   BASE_URL=… ARTIFACTS=… node tests/browser/admin.mjs
//
// A federation administrator (demo-admin-federation-1) logs in through /demo twice: once in
// Swedish and once in English (`?lang=en` and its cookie), each in a browser context of their
// own, and then:
//
// 1. routing:  changes Budget and debt advice's (`ekonomi`) offer timeout with the mouse and its
//              ring 1 timeout with the keyboard only (Tab, typing and Enter; no clicks) on
//              /admin/routing; each time the page confirms and GET /api/v1/admin/routing (the
//              same browser session) answers the new value. A value that is not a number is
//              answered 422 with an error summary linking to the field.
// 2. simulate: /admin/policies/simulate with a Perstorp (1275) request in `ekonomi`, in Arabic,
//              with consent to other municipalities, and a Helsingborg (1283) caseworker who
//              would claim it: the decision, the deciding rules and the ring plan are shown.
// 3. every administration page, and each form's states (an error, a result), in both
//              languages: axe-core with zero WCAG 2.1 AA violations, html-validate on the HTML as
//              served, the right `<html lang>`, no CSP violation, and a full-page screenshot in
//              $ARTIFACTS/admin/NN-<lang>-<step>.png. Pages that need something to show get it
//              first: a routed case (an Arabic Perstorp request through the JSON API) for the
//              audit's case page and search, a second policy version for the impact report, a
//              new draft of the federation's agreement for its version history.
// 4. Perstorp's municipality administrator (demo-admin-1275): /admin/routing read-only (a
//              table, no form; a forged post is refused in words, 403) and /admin/caseworkers
//              with Perstorp's staff only.
//
// Exits non-zero on any failure.

import { Checks, artifacts, checkPage, demoLogin, env, launch, loads, watchCsp } from './lib.mjs';

const BASE_URL = env('BASE_URL').replace(/\/$/, '');
const DIR = artifacts('admin');

const FEDERATION_ADMIN = 'demo-admin-federation-1';
/** Perstorp's municipality administrator (src/demo.rs: `demo-admin-<kommunkod>`). */
const PERSTORP_ADMIN = 'demo-admin-1275';
const PERSTORP = '1275';
const HELSINGBORG = '1283';
/** Helsingborg's reception generalist (src/demo.rs). */
const CASEWORKER = '1283-01';
const AGREEMENT = 'fh-rad-och-stod-2026';
/** A Perstorp citizen of the demo, for the request sent through the JSON API. */
const CITIZEN = '198112189876';
const QUESTION_AR = 'مرحبًا، أحتاج إلى مساعدة في وضع ميزانية لأسرتي.';

const checks = new Checks('admin.mjs');

// ---------------------------------------------------------------------------------------------
// A tab: one browser context (one person in one language), its CSP watch, and the document it
// was last served.

class Tab {
  constructor(context, page, lang, who) {
    this.context = context;
    this.page = page;
    this.lang = lang;
    this.who = who;
    this.csp = watchCsp(page);
    this.lastDocument = undefined;
    page.on('response', (response) => {
      const request = response.request();
      if (request.isNavigationRequest() && request.frame() === page.mainFrame()) this.lastDocument = response;
    });
  }

  /**
   * The body of the document shown now as it was served (a form's 422 included; a redirect is
   * not a document), if it is the last one loaded.
   */
  async served() {
    const response = this.lastDocument;
    if (!response) return undefined;
    const status = response.status();
    if (status >= 300 && status < 400) return undefined;
    if (response.url().split('#')[0] !== this.page.url().split('#')[0]) return undefined;
    return response.text().catch(() => undefined);
  }

  /** The status of the document shown now. */
  status() {
    return this.lastDocument?.status();
  }

  async goto(urlPath) {
    return this.page.goto(`${BASE_URL}${urlPath}`);
  }

  path() {
    const url = new URL(this.page.url());
    return `${url.pathname}${url.search}`;
  }

  /** The CSRF token of the page shown (every logged-in page has the log-out form). */
  csrf() {
    return this.page.locator('input[type="hidden"][name="csrf"]').first().getAttribute('value');
  }
}

const contexts = [];
/** Each step's number, for the screenshots' names: a step's two languages share one. */
const steps = new Map();

/** A person logged in through /demo in a fresh context, in `lang` (English by `?lang=en`). */
async function login(browser, lang, adminId) {
  const context = await browser.newContext({ locale: 'sv-SE', viewport: { width: 1280, height: 900 } });
  contexts.push(context);
  const page = await context.newPage();
  page.setDefaultTimeout(20_000);
  const tab = new Tab(context, page, lang, adminId);
  if (lang !== 'sv') {
    await tab.goto(`/?lang=${lang}`);
    const cookies = await context.cookies(BASE_URL);
    if (!cookies.some((c) => c.name === 'brygga_lang' && c.value === lang)) {
      throw new Error(`?lang=${lang} did not set the language cookie`);
    }
  }
  const landed = await demoLogin(page, BASE_URL, { role: 'admin', admin_id: adminId });
  checks.expect(`${adminId} (${lang}) logs in through /demo and lands on /admin`, landed === '/admin', [`landed on ${landed}`]);
  return tab;
}

/**
 * axe, html-validate (on the document as served), `<html lang>`, CSP and a screenshot of what
 * `tab` shows now.
 */
async function look(tab, step) {
  if (!steps.has(step)) steps.set(step, steps.size + 1);
  const name = `${String(steps.get(step)).padStart(2, '0')}-${tab.lang}-${step}`;
  const where = `${tab.lang} ${step} (${tab.path()})`;
  const htmlLang = await tab.page.evaluate(() => document.documentElement.getAttribute('lang'));
  checks.expect(`${where}: <html lang="${tab.lang}">`, htmlLang === tab.lang, [`<html lang="${htmlLang}">`]);
  const html = await tab.served();
  checks.expect(`${where}: the document as served is at hand for html-validate`, html !== undefined,
    [`last document ${tab.lastDocument?.url()} (${tab.lastDocument?.status()})`]);
  await checkPage(checks, tab.page, { label: where, html, dir: DIR, name, csp: tab.csp });
}

/** Opens `urlPath` in every tab (at once), checks the status and looks at each. */
async function visit(tabs, step, urlPath, status = 200) {
  await Promise.all(tabs.map(async (tab) => {
    const response = await tab.goto(urlPath);
    checks.expect(`${tab.lang} ${step}: ${urlPath} answers ${status}`, response?.status() === status,
      [`answered ${response?.status()} at ${tab.page.url()}`]);
    await look(tab, step);
  }));
}

/** Runs `act(tab)` in every tab at once (it fills and submits a form), then looks at each. */
async function inEach(tabs, step, act) {
  await Promise.all(tabs.map(async (tab) => {
    await act(tab);
    await look(tab, step);
  }));
}

/** Fails with what an error summary or a refusal says, if the page shows one. */
async function noComplaint(tab, where) {
  for (const selector of ['.error-summary', '#refusal']) {
    const shown = tab.page.locator(selector);
    if (await shown.count()) {
      throw new Error(`${where}: the page says ${(await shown.first().innerText()).replace(/\s+/g, ' ')}`);
    }
  }
}

/** The text of `selector`, whitespace folded; empty when it is not there. */
async function text(tab, selector) {
  const found = tab.page.locator(selector);
  if (!(await found.count())) return '';
  return (await found.first().innerText()).replace(/\s+/g, ' ').trim();
}

/** The error summary's links, as `href` → text. */
async function summaryLinks(tab) {
  return tab.page.locator('#error-summary a').evaluateAll((links) =>
    links.map((a) => ({ href: a.getAttribute('href'), text: a.textContent.trim() })));
}

// ---------------------------------------------------------------------------------------------
// The JSON API, for what is not the subject here (a citizen's request).

async function api(method, urlPath, token, body) {
  const response = await fetch(`${BASE_URL}${urlPath}`, {
    method,
    headers: {
      'content-type': 'application/json',
      ...(token ? { authorization: `Bearer ${token}` } : {}),
    },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const answer = await response.text();
  if (!response.ok) throw new Error(`${method} ${urlPath} answered ${response.status}: ${answer}`);
  return answer ? JSON.parse(answer) : null;
}

/** A Perstorp citizen's Arabic request, consenting to other municipalities; answers its id. */
async function arabicRequest() {
  const { token } = await api('POST', '/demo/login', null,
    { role: 'citizen', personnummer: CITIZEN, municipality: PERSTORP });
  const sent = await api('POST', '/api/v1/requests', token,
    { category: 'ekonomi', language: 'ar', text: QUESTION_AR, consent: { cross_municipality: true } });
  return sent.id;
}

/** `ekonomi`'s routing settings as the administration API answers them to `tab`'s session. */
async function ekonomiSettings(tab) {
  const response = await tab.context.request.get(`${BASE_URL}/api/v1/admin/routing`);
  if (!response.ok()) throw new Error(`GET /api/v1/admin/routing answered ${response.status()}: ${await response.text()}`);
  const { categories } = await response.json();
  const entry = categories.find((c) => c.category === 'ekonomi');
  if (!entry) throw new Error(`GET /api/v1/admin/routing has no ekonomi: ${JSON.stringify(categories)}`);
  return entry;
}

// ---------------------------------------------------------------------------------------------
// The keyboard.

/** What has the focus: its id, tag, and for a control in a form the form's category. */
function focused(page) {
  return page.evaluate(() => {
    const el = document.activeElement;
    if (!el || el === document.body) return { tag: 'body', id: '', category: '', outline: false };
    const style = getComputedStyle(el);
    return {
      tag: el.tagName.toLowerCase(),
      id: el.id,
      type: el.getAttribute('type') ?? '',
      category: el.form?.querySelector('input[name="category"]')?.value ?? '',
      outline: style.outlineStyle !== 'none' && parseFloat(style.outlineWidth) >= 2 && el.matches(':focus-visible'),
    };
  });
}

/** Presses Tab until `wanted(focused)`; answers what has the focus then. */
async function tabTo(page, what, wanted) {
  for (let i = 0; i < 200; i += 1) {
    await page.keyboard.press('Tab');
    const now = await focused(page);
    if (wanted(now)) return now;
  }
  throw new Error(`the keyboard never reaches ${what}`);
}

// ---------------------------------------------------------------------------------------------
// The walks.

/** The overview, the routing settings: changed with the mouse, with the keyboard, and wrongly. */
async function routing(sv, en) {
  await visit([sv, en], 'overview', '/admin');
  const cards = await sv.page.locator('main ul.cards a').evaluateAll((links) => links.map((a) => a.getAttribute('href')));
  checks.expect('the overview links every section', ['/admin/caseworkers', '/admin/municipalities', '/admin/categories',
    '/admin/agreements', '/admin/routing', '/admin/policies', '/admin/audit', '/admin/stats'].every((h) => cards.includes(h)),
  [cards.join(' ')]);

  await visit([sv, en], 'routing', '/admin/routing');
  const before = await ekonomiSettings(sv);
  const { page } = sv;

  // The offer timeout, with the mouse.
  const offer = before.offer_timeout === 300 ? 420 : 300;
  await page.locator('#ekonomi-offer').fill(String(offer));
  await loads(page, () => page.locator('#ekonomi form button[type="submit"]').click());
  await noComplaint(sv, 'saving the offer timeout');
  const done = await text(sv, '#done');
  checks.expect('routing: saving answers 303 to /admin/routing with a confirmation',
    sv.path() === '/admin/routing?done=routing_saved' && done.length > 0, [`at ${sv.path()}, #done "${done}"`]);
  checks.expect('routing: the form shows the new offer timeout',
    (await page.locator('#ekonomi-offer').inputValue()) === String(offer),
    [`#ekonomi-offer = ${await page.locator('#ekonomi-offer').inputValue()}`]);
  const afterMouse = await ekonomiSettings(sv);
  checks.expect(`routing: GET /api/v1/admin/routing answers ekonomi's new offer timeout (${before.offer_timeout} → ${offer} s), the rest unchanged`,
    afterMouse.offer_timeout === offer && afterMouse.mode === before.mode
      && JSON.stringify(afterMouse.ring_timeouts) === JSON.stringify(before.ring_timeouts),
    [JSON.stringify(afterMouse)]);

  // Ring 1's timeout, with the keyboard only.
  await sv.goto('/admin/routing');
  const ring1 = before.ring_timeouts[1] === 5400 ? 7200 : 5400;
  const outlines = [];
  const field = await tabTo(page, 'ekonomi\'s ring 1 timeout', (f) => f.id === 'ekonomi-ring1');
  if (field.outline) outlines.push(field.id);
  await page.keyboard.press('ControlOrMeta+A');
  await page.keyboard.type(String(ring1));
  const button = await tabTo(page, 'the button that saves ekonomi', (f) => f.tag === 'button' && f.category === 'ekonomi');
  if (button.outline) outlines.push('save button');
  checks.expect('keyboard: Tab reaches ekonomi\'s ring 1 timeout and its save button, with a visible focus outline',
    outlines.length === 2, [`outlined: ${outlines.join(', ') || 'none'}`]);
  await loads(page, () => page.keyboard.press('Enter'));
  await noComplaint(sv, 'saving ring 1 with the keyboard');
  const afterKeys = await ekonomiSettings(sv);
  checks.expect(`keyboard: Enter saves it (ring 1 ${before.ring_timeouts[1]} → ${ring1} s, as the API answers; the offer timeout kept)`,
    sv.path() === '/admin/routing?done=routing_saved' && afterKeys.ring_timeouts[1] === ring1
      && afterKeys.ring_timeouts[0] === before.ring_timeouts[0] && afterKeys.offer_timeout === offer,
    [`at ${sv.path()}`, JSON.stringify(afterKeys)]);
  await look(sv, 'routing-saved');

  // A value that is not a number: the page again, 422, with the error summary.
  await inEach([sv, en], 'routing-error', async (tab) => {
    await tab.goto('/admin/routing');
    await tab.page.locator('#ekonomi-offer').fill('fem minuter');
    await loads(tab.page, () => tab.page.locator('#ekonomi form button[type="submit"]').click());
    const links = await summaryLinks(tab);
    checks.expect(`${tab.lang} routing: an offer timeout that is not a number is answered 422, the summary linking to the field`,
      tab.status() === 422 && links.some((l) => l.href === '#ekonomi-offer')
        && (await tab.page.locator('#ekonomi-offer').getAttribute('aria-invalid')) === 'true'
        && (await tab.page.locator('#ekonomi-offer').inputValue()) === 'fem minuter',
      [`status ${tab.status()}`, JSON.stringify(links)]);
  });
  const unchanged = await ekonomiSettings(sv);
  checks.expect('routing: the wrong value changed nothing', unchanged.offer_timeout === offer, [JSON.stringify(unchanged)]);
}

/** Fills the simulation form: a Perstorp Arabic request in ekonomi, a Helsingborg caseworker who would claim it. */
async function simulate(tab) {
  const { page } = tab;
  await tab.goto('/admin/policies/simulate');
  await page.locator('#category').selectOption('ekonomi');
  await page.locator('#language').selectOption('ar');
  await page.locator('#home').selectOption(PERSTORP);
  await page.locator('#cross_municipality').check();
  await page.locator('#role').selectOption('caseworker');
  await page.locator('#municipality').selectOption(HELSINGBORG);
  await page.locator('#action').selectOption('claim');
  await loads(page, () => page.locator('form[action="/admin/policies/simulate"] button[type="submit"]').click());
  await noComplaint(tab, 'simulating');
  const decision = await page.locator('#decision').getAttribute('data-decision').catch(() => null);
  const rules = await page.locator('#result a code, #result code').allInnerTexts();
  const rings = await page.locator('#ring-plan li').evaluateAll((items) =>
    items.map((li) => ({ ring: li.dataset.ring, text: li.textContent.replace(/\s+/g, ' ').trim() })));
  checks.expect(`${tab.lang} simulate: a Helsingborg caseworker may claim a Perstorp Arabic request with consent: allowed, under an agreement rule`,
    tab.status() === 200 && decision === 'allow' && rules.some((r) => /^R5/.test(r)),
    [`status ${tab.status()}, decision ${decision}, rules ${rules.join(', ')}`]);
  checks.expect(`${tab.lang} simulate: the ring plan starts at home (Perstorp, ring 0) and reaches Helsingborg`,
    rings.length > 1 && rings[0].ring === '0' && /Perstorp/.test(rings[0].text)
      && rings.some((r) => r.ring !== '0' && /Helsingborg/.test(r.text)),
    rings.map((r) => `${r.ring}: ${r.text}`));
  // The form keeps what was asked.
  checks.expect(`${tab.lang} simulate: the form keeps what was asked`,
    (await page.locator('#language').inputValue()) === 'ar' && (await page.locator('#cross_municipality').isChecked())
      && (await page.locator('#municipality').inputValue()) === HELSINGBORG);
}

/** The policies: the overview, the editor (and a syntax error at its line), the impact report, simulate. */
async function policies(sv, en) {
  await visit([sv, en], 'policy-editor', '/admin/policies/new');

  // A line that is not Cedar, as line 3: the summary and the listing point at it.
  await inEach([sv, en], 'policy-editor-error', async (tab) => {
    await tab.goto('/admin/policies/new');
    const area = tab.page.locator('#text');
    const lines = (await area.inputValue()).split('\n');
    lines.splice(2, 0, 'permit (principal, action, resource) when { this is not cedar };');
    await area.fill(lines.join('\n'));
    await loads(tab.page, () => tab.page.locator('form[action="/admin/policies"] button[type="submit"]').click());
    const links = await summaryLinks(tab);
    const marked = await tab.page.locator('#listing li.problem').evaluateAll((items) => items.map((li) => li.id));
    checks.expect(`${tab.lang} policy editor: a syntax error is answered 422 and shown at its line (the summary links to the marked line 3)`,
      tab.status() === 422 && marked.includes('line-3') && links.some((l) => l.href === '#line-3'),
      [`status ${tab.status()}`, `marked lines ${marked.join(', ')}`, JSON.stringify(links)]);
  });

  // A second version (the active one with a comment added), for the impact report.
  const { page } = sv;
  await sv.goto('/admin/policies/new');
  const area = page.locator('#text');
  await area.fill(`${await area.inputValue()}\n// Tillagd av webbläsartestet (tests/browser/admin.mjs).\n`);
  await loads(page, () => page.locator('form[action="/admin/policies"] button[type="submit"]').click());
  await noComplaint(sv, 'storing a policy version');
  const stored = await page.locator('tbody tr[id^="version-"]').evaluateAll((rows) => rows.map((r) => r.id));
  checks.expect('policies: a new version is stored (303 to /admin/policies with a confirmation) and listed',
    sv.path() === '/admin/policies?done=policy_stored' && (await page.locator('#done').count()) === 1 && stored.length >= 2,
    [`at ${sv.path()}`, stored.join(', ')]);
  const newest = Math.max(...stored.map((id) => Number(id.replace('version-', ''))));
  await look(sv, 'policies');
  await visit([en], 'policies', '/admin/policies');

  await visit([sv, en], 'policy-impact', `/admin/policies/${newest}/impact`);
  await inEach([sv, en], 'policy-impact-report', async (tab) => {
    await tab.goto(`/admin/policies/${newest}/impact`);
    await loads(tab.page, () => tab.page.locator(`form[action="/admin/policies/${newest}/impact"] button[type="submit"]`).click());
    await noComplaint(tab, 'the impact report');
    checks.expect(`${tab.lang} policies: the impact report of version ${newest} is shown`,
      tab.status() === 200 && (await tab.page.locator('#report').count()) === 1, [`status ${tab.status()}`]);
  });

  // The proofs of the stored version against the legal invariants (issue 23), beside its tests.
  await visit([sv, en], 'policy-proofs', `/admin/policies/${newest}/proofs`);
  const proven = await sv.page.locator('tr[data-verdict="proven"]').count();
  checks.expect(`policies: every legal invariant is proven for version ${newest}`,
    (await sv.page.locator('#all-proven').count()) === 1 && proven >= 14
      && (await sv.page.locator('tr[data-verdict="broken"], tr[data-verdict="failed"]').count()) === 0,
    [`${proven} proven`]);

  await visit([sv, en], 'simulate', '/admin/policies/simulate');
  await inEach([sv, en], 'simulate-result', simulate);
}

/** The caseworkers, municipalities, categories and agreements. */
async function federation(sv, en) {
  await visit([sv, en], 'caseworkers', '/admin/caseworkers');
  checks.expect('caseworkers: the federation administrator sees caseworkers of several municipalities',
    (await sv.page.locator(`#staff tr[data-id^="${PERSTORP}-"]`).count()) > 0
      && (await sv.page.locator(`#staff tr[data-id^="${HELSINGBORG}-"]`).count()) > 0);
  await visit([sv, en], 'caseworker', `/admin/caseworkers/${CASEWORKER}`);
  await inEach([sv, en], 'caseworker-error', async (tab) => {
    await tab.goto(`/admin/caseworkers/${CASEWORKER}`);
    const form = tab.page.locator(`form[action="/admin/caseworkers/${CASEWORKER}"]`);
    await form.locator('#capacity').fill('tjugo');
    await loads(tab.page, () => form.locator('button[type="submit"]').click());
    const links = await summaryLinks(tab);
    checks.expect(`${tab.lang} caseworkers: a capacity that is not a number is answered 422, the summary linking to the field`,
      tab.status() === 422 && links.length === 1 && links[0].href === '#capacity'
        && (await tab.page.locator('#capacity').getAttribute('aria-invalid')) === 'true'
        && (await tab.page.locator('#capacity').inputValue()) === 'tjugo',
      [`status ${tab.status()}`, JSON.stringify(links)]);
  });

  await visit([sv, en], 'municipalities', '/admin/municipalities');
  await visit([sv, en], 'municipality', `/admin/municipalities/${PERSTORP}`);
  await visit([sv, en], 'categories', '/admin/categories');
  await visit([sv, en], 'category', '/admin/categories/ekonomi');
  await visit([sv, en], 'agreements', '/admin/agreements');

  // A new draft of the agreement (its terms as they stand, with a note): a version history
  // of two, the draft waiting for a second administrator.
  const { page } = sv;
  await sv.goto(`/admin/agreements/${AGREEMENT}`);
  const form = page.locator(`form[action="/admin/agreements/${AGREEMENT}"]`);
  await form.locator('#note').fill('Förlängning diskuteras; utkast från webbläsartestet.');
  await loads(page, () => form.locator('button[type="submit"]').click());
  await noComplaint(sv, 'drafting the agreement');
  const versions = await page.locator('#versions tbody tr').count();
  checks.expect('agreements: a new draft is stored (303 back with a confirmation), two versions listed, waiting for a second administrator',
    sv.path() === `/admin/agreements/${AGREEMENT}?done=agreement_drafted` && versions >= 2
      && (await page.locator('#own-draft').count()) === 1,
    [`at ${sv.path()}, ${versions} versions`]);
  await look(sv, 'agreement');
  await visit([en], 'agreement', `/admin/agreements/${AGREEMENT}`);
}

/** The audit: the search (and a case found), the chain verified, the follow-up report, a case's routing. */
async function audit(sv, en, caseId) {
  await visit([sv, en], 'audit', '/admin/audit');
  await inEach([sv, en], 'audit-search', async (tab) => {
    await tab.page.locator('#case').fill(caseId);
    await loads(tab.page, () => tab.page.locator('form[action="/admin/audit"] button[type="submit"]').click());
    await noComplaint(tab, 'searching the audit trail');
    const found = await tab.page.locator(`#results a[href="/admin/audit/cases/${caseId}"]`).count();
    checks.expect(`${tab.lang} audit: searching by the case finds its events`, found > 0,
      [`at ${tab.path()}`, await text(tab, '#results')]);
  });
  await inEach([sv, en], 'audit-verified', async (tab) => {
    await tab.goto('/admin/audit');
    await loads(tab.page, () => tab.page.locator('form[action="/admin/audit/verify"] button[type="submit"]').click());
    const said = await text(tab, '#verification');
    checks.expect(`${tab.lang} audit: the chains are verified and found whole`,
      said.length > 0 && !(await tab.page.locator('#verification.warning').count()), [said]);
  });
  await visit([sv, en], 'audit-follow-up', '/admin/audit/follow-up');
  checks.expect('audit: the follow-up report is shown with its CSV download',
    (await sv.page.locator('a[href^="/admin/audit/follow-up.csv"]').count()) === 1);
  await visit([sv, en], 'audit-case', `/admin/audit/cases/${caseId}`);
  const traces = await text(sv, '#routing');
  checks.expect(`audit: the case's routing is explained in words: Perstorp, then Helsingborg under ${AGREEMENT}`,
    (await sv.page.locator('#routing ol.audit-traces > li').count()) > 0 && /Perstorp/.test(traces)
      && /Helsingborg/.test(traces) && traces.includes(AGREEMENT),
    [traces.slice(0, 600)]);
  await visit([sv, en], 'stats', '/admin/stats');
}

/** Perstorp's municipality administrator: the routing settings to read, their own caseworkers. */
async function municipalityAdmin(browser) {
  const sv = await login(browser, 'sv', PERSTORP_ADMIN);
  const en = await login(browser, 'en', PERSTORP_ADMIN);
  await visit([sv, en], 'municipality-admin-routing', '/admin/routing');
  for (const tab of [sv, en]) {
    checks.expect(`${tab.lang} municipality administrator: /admin/routing is read-only (a table, no form)`,
      (await tab.page.locator('#read-only').count()) === 1
        && (await tab.page.locator('form[action="/admin/routing"]').count()) === 0
        && (await tab.page.locator('table.routing-table tbody tr#ekonomi').count()) === 1);
  }
  // A post all the same (as a forged form would): refused in words, nothing changed.
  const before = await ekonomiSettings(sv);
  const form = new URLSearchParams([
    ['csrf', await sv.csrf()], ['category', 'ekonomi'], ['mode', 'push'],
    ['ring_timeouts', '60'], ['ring_timeouts', '120'], ['offer_timeout', '30'], ['fair_share_per_10k', ''],
  ]);
  const refused = await sv.context.request.post(`${BASE_URL}/admin/routing`, {
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    data: form.toString(),
    maxRedirects: 0,
  });
  const body = await refused.text();
  const after = await ekonomiSettings(sv);
  checks.expect('municipality administrator: a post to /admin/routing is refused in words (403), nothing changed',
    refused.status() === 403 && body.includes('id="refusal"') && JSON.stringify(after) === JSON.stringify(before),
    [`answered ${refused.status()}`, JSON.stringify(after)]);

  await visit([sv, en], 'municipality-admin-caseworkers', '/admin/caseworkers');
  const ids = await sv.page.locator('#staff tbody tr').evaluateAll((rows) => rows.map((r) => r.dataset.id));
  checks.expect('municipality administrator: /admin/caseworkers lists Perstorp\'s caseworkers only',
    ids.length > 0 && ids.every((id) => id.startsWith(`${PERSTORP}-`)), [ids.join(' ')]);
}

const started = Date.now();
const browser = await launch();
try {
  await checks.step('the federation administrator\'s walk', async () => {
    // First a routed case, for the audit pages: Perstorp has nobody who speaks Arabic, so it
    // widens to the agreement's members at once.
    const caseId = await arabicRequest();
    checks.pass(`a Perstorp citizen's Arabic request is sent through the JSON API (${caseId})`);
    const sv = await login(browser, 'sv', FEDERATION_ADMIN);
    const en = await login(browser, 'en', FEDERATION_ADMIN);
    await checks.step('routing', () => routing(sv, en));
    await checks.step('policies', () => policies(sv, en));
    await checks.step('caseworkers, municipalities, categories, agreements', () => federation(sv, en));
    await checks.step('audit and statistics', () => audit(sv, en, caseId));
  });
  await checks.step('the municipality administrator\'s walk', () => municipalityAdmin(browser));
} finally {
  await Promise.all(contexts.map((c) => c.close().catch(() => {})));
  await browser.close();
}
console.log(`admin.mjs: ${((Date.now() - started) / 1000).toFixed(1)} s`);
checks.finish();
