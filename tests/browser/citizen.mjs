// The citizen pages end to end in a real browser (issue 20, point 9), written against the page
// contract of issue 20 (paths in API.md "Pages"; fields named as in the JSON API; the question
// steps post to /requests/new, the check-answers page to /requests, the confirmation is
// /requests/{id}/sent with #request-id and #access-code; /my/requests lists
// `ul.requests li[data-id]`; /requests/{id} has #status[data-state], `ol.thread li.message`
// and a reply form posting `text` to /requests/{id}/messages; /anonymous takes `id` and
// `access_code`). Until all those pages exist this script fails at the first one missing:
// tests/integration/browser.rs runs it as a test of its own, so that the progress shows.
//
//   BASE_URL=… OIDC_ISSUER=… ARTIFACTS=… node tests/browser/citizen.mjs
//
// Three independent walks, each in fresh browser contexts of one Chromium, side by side:
//
// 1. citizen:   a Perstorp citizen logs in through the real test OpenID provider (account
//               citizen-anna), asks in Arabic with consent to other municipalities, sees the
//               status on /my/requests and /requests/{id}; a Helsingborg caseworker who speaks
//               Arabic claims and answers through the JSON API; the citizen reloads, reads the
//               answer and replies through the form.
// 2. anonymous: a visitor asks without logging in (stating Perstorp), keeps the id and access
//               code from the confirmation, and in a fresh context comes back through
//               /anonymous and sees the thread.
// 3. keyboard:  the anonymous form from start to confirmation with the keyboard only (Tab,
//               Shift+Tab, Space, Enter, arrow keys and typing; no clicks).
//
// axe (WCAG 2.1 AA), html-validate and a screenshot on every page of ours on the way
// ($ARTIFACTS/<walk>/NN-<step>.png). Exits non-zero on any failure.

import * as path from 'node:path';

import { Checks, artifacts, checkPage, env, launch, slug, watchCsp } from './lib.mjs';

const BASE_URL = env('BASE_URL').replace(/\/$/, '');
const OIDC_ISSUER = env('OIDC_ISSUER').replace(/\/$/, '');
const LOA3 = 'http://id.elegnamnden.se/loa/1.0/loa3';

/**
 * Perstorp (1275) has no caseworker who speaks Arabic, so an Arabic request with consent goes
 * to the next ring at once; in the demo federation Helsingborg's 1283-01 speaks Arabic and
 * handles `ekonomi`.
 */
const ARABIC_CASEWORKER = '1283-01';

const QUESTION_AR = 'مرحبًا، لدي ديون ولا أعرف كيف أدفع فواتيري هذا الشهر.';
const ANSWER = 'مرحبًا، يمكننا وضع ميزانية معًا. Vi kan göra en budget tillsammans.';
const REPLY_AR = 'شكرًا! متى يمكننا أن نلتقي؟';
const QUESTION_ANONYMOUS = 'Jag har svårt att betala hyran. Vad kan jag göra?';
const QUESTION_KEYBOARD = 'Jag skriver det här med bara tangentbordet.';

const checks = new Checks('citizen.mjs');

// ---------------------------------------------------------------------------------------------
// A walk: one or more browser contexts, a log prefix, numbered screenshots.

class Walk {
  constructor(browser, name) {
    this.browser = browser;
    this.name = name;
    this.dir = artifacts(name);
    this.shot = 0;
    this.contexts = [];
  }

  /** A fresh context (own cookies: a new browser, as far as the site can tell). */
  async newPage() {
    const context = await this.browser.newContext({ locale: 'sv-SE' });
    this.contexts.push(context);
    const page = await context.newPage();
    page.setDefaultTimeout(30_000);
    const csp = watchCsp(page);
    // The last document the main frame got (after redirects): its HTML as served.
    let last;
    page.on('response', (response) => {
      const request = response.request();
      if (request.isNavigationRequest() && request.frame() === page.mainFrame()) last = response;
    });
    return { page, csp, served: () => last };
  }

  /** axe, the HTML validator and a screenshot of the page `tab` shows now, if it is ours. */
  async look(tab, step) {
    this.shot += 1;
    const name = `${String(this.shot).padStart(2, '0')}-${step}`;
    const url = new URL(tab.page.url());
    if (url.origin !== BASE_URL) {
      // The test OpenID provider's login form is a fixture, not ours: a picture only.
      await tab.page.screenshot({ path: path.join(this.dir, `${slug(name)}.png`), fullPage: true });
      return;
    }
    const response = tab.served();
    let html;
    if (response && response.url().split('#')[0] === tab.page.url().split('#')[0] && response.status() < 300) {
      html = await response.text().catch(() => undefined);
    }
    await checkPage(checks, tab.page, {
      label: `${this.name} ${step} (${url.pathname})`,
      html,
      dir: this.dir,
      name,
      csp: tab.csp,
    });
  }

  async close() {
    await Promise.all(this.contexts.map((c) => c.close()));
  }
}

/** Fails with what an error summary says, if the page shows one. */
async function noErrorSummary(page, where) {
  const summary = page.locator('.error-summary');
  if (await summary.count()) {
    throw new Error(`${where}: the form answered with errors: ${(await summary.first().innerText()).replace(/\s+/g, ' ')}`);
  }
}

/**
 * Runs `act` (a click or a key that submits or follows a link) and waits for the new document
 * to load. The question steps post to /requests/new and answer there, so the URL alone does
 * not tell that a page came.
 */
async function loads(page, act) {
  const navigated = page.waitForEvent('framenavigated', { predicate: (frame) => frame === page.mainFrame() });
  await act();
  await navigated;
  await page.waitForLoadState('load');
}

// ---------------------------------------------------------------------------------------------
// The question pages, answered generically: whatever fields of the contract the current step
// shows are answered from `answers` (by field name); others are left as the page set them.

/** The request id in a confirmation URL `/requests/{id}/sent`, or undefined. */
function sentId(page) {
  return /^\/requests\/([^/]+)\/sent$/.exec(new URL(page.url()).pathname)?.[1];
}

/**
 * What the current step's form holds: its fields in tree order, and which submit button moves
 * on (the one posting to `POST /requests` on the check-answers page, else the form's first
 * non-secondary button posting to `/requests/new`). The button gets `data-walk-next` so that
 * it can be found again.
 */
async function stepForm(page) {
  return page.evaluate(() => {
    const buttons = [...document.querySelectorAll('button[type="submit"], button:not([type]), input[type="submit"]')];
    // Where a button posts: its own formaction, else its form's action (the `formAction`
    // property answers the document's URL when the attribute is missing).
    const pathOf = (b) => new URL(b.getAttribute('formaction') ?? b.form?.getAttribute('action') ?? '', document.baseURI).pathname;
    const send = buttons.find((b) => pathOf(b) === '/requests');
    const next = send ?? buttons.find((b) => pathOf(b) === '/requests/new' && !b.classList.contains('secondary'))
      ?? buttons.find((b) => pathOf(b) === '/requests/new');
    if (!next) return undefined;
    document.querySelectorAll('[data-walk-next]').forEach((b) => b.removeAttribute('data-walk-next'));
    next.setAttribute('data-walk-next', '');
    const form = next.form;
    const fields = [];
    for (const el of form.elements) {
      if (!el.name || el.type === 'hidden' || el.type === 'submit' || el.tagName === 'BUTTON' || el.disabled) continue;
      fields.push({ name: el.name, type: el.type, tag: el.tagName.toLowerCase(), value: el.value });
    }
    return { checkAnswers: Boolean(send), fields };
  });
}

/** Clicks the label of the `name` input with `value` (as a person would), checking it. */
async function chooseByLabel(page, name, value) {
  const input = page.locator(`input[name="${name}"][value="${value}"]`);
  const id = await input.getAttribute('id');
  const label = id ? page.locator(`label[for="${id}"]`) : page.locator('label').filter({ has: input });
  if (await label.count()) await label.first().click();
  else await input.check();
  if (!(await input.isChecked())) throw new Error(`${name}=${value} is not checked after clicking its label`);
}

/** Answers the current step with the mouse and the form-filling helpers. */
async function answerWithMouse(page, step, answers) {
  const seen = new Set();
  for (const field of step.fields) {
    const wanted = answers[field.name];
    if (wanted === undefined || seen.has(field.name)) continue;
    seen.add(field.name);
    if (field.type === 'radio') {
      await chooseByLabel(page, field.name, String(wanted));
    } else if (field.type === 'checkbox') {
      if (typeof wanted === 'boolean') {
        const box = page.locator(`input[name="${field.name}"]`).first();
        if ((await box.isChecked()) !== wanted) await box.setChecked(wanted);
      } else {
        for (const value of [wanted].flat()) {
          const box = page.locator(`input[name="${field.name}"][value="${value}"]`);
          if ((await box.count()) && !(await box.isChecked())) await chooseByLabel(page, field.name, value);
        }
      }
    } else if (field.tag === 'select') {
      await page.locator(`select[name="${field.name}"]`).selectOption(String(wanted));
    } else {
      await page.locator(`[name="${field.name}"]`).fill(String(wanted));
    }
  }
  await loads(page, () => page.locator('[data-walk-next]').click());
}

/** The name, type, value and checked state of the focused element. */
function focused(page) {
  return page.evaluate(() => {
    const el = document.activeElement;
    return {
      name: el?.getAttribute('name') ?? '',
      type: el?.type ?? '',
      value: el?.value ?? '',
      checked: Boolean(el?.checked),
      next: el?.hasAttribute('data-walk-next') ?? false,
      tag: el?.tagName?.toLowerCase() ?? '',
    };
  });
}

/** Presses Tab (or Shift+Tab) until `wanted(focused)`; fails after a page's worth of stops. */
async function tabTo(page, what, wanted) {
  for (const key of ['Tab', 'Shift+Tab']) {
    for (let i = 0; i < 80; i += 1) {
      await page.keyboard.press(key);
      if (wanted(await focused(page))) return;
    }
  }
  throw new Error(`the keyboard never reaches ${what}`);
}

/** Arrow keys on the focused radio or select until its value is `value`. */
async function arrowTo(page, what, value) {
  for (const key of ['ArrowDown', 'ArrowUp']) {
    for (let i = 0; i < 40; i += 1) {
      const now = await focused(page);
      if (now.value === value && (now.type !== 'radio' || now.checked)) return;
      await page.keyboard.press(key);
    }
  }
  throw new Error(`the arrow keys never reach ${what}=${value}`);
}

/** Answers the current step with the keyboard only. */
async function answerWithKeyboard(page, step, answers) {
  const seen = new Set();
  for (const field of step.fields) {
    const wanted = answers[field.name];
    if (wanted === undefined || seen.has(field.name)) continue;
    seen.add(field.name);
    const label = `the ${field.name} field`;
    await tabTo(page, label, (f) => f.name === field.name);
    if (field.type === 'radio') {
      // Tab lands on the group's checked option, or its first; Space checks it.
      if (!(await focused(page)).checked) await page.keyboard.press('Space');
      await arrowTo(page, field.name, String(wanted));
    } else if (field.type === 'checkbox') {
      if (typeof wanted === 'boolean' && (await focused(page)).checked !== wanted) await page.keyboard.press('Space');
    } else if (field.tag === 'select') {
      await arrowTo(page, field.name, String(wanted));
    } else {
      await page.keyboard.type(String(wanted));
    }
  }
  await tabTo(page, 'the button that goes on', (f) => f.next);
  await loads(page, () => page.keyboard.press('Enter'));
}

/**
 * From `/requests/new` to the confirmation: answers each step, then sends from the
 * check-answers page; looks at every page on the way. Answers the new request's id.
 */
async function ask(walk, tab, answers, how) {
  const { page } = tab;
  for (let n = 1; n <= 6; n += 1) {
    const id = sentId(page);
    if (id) return id;
    const step = await stepForm(page);
    if (!step) throw new Error(`${page.url()}: no form button posting to /requests/new or /requests`);
    await walk.look(tab, step.checkAnswers ? 'check-answers' : `question-${n}`);
    if (step.checkAnswers) {
      const shown = await page.locator('main').innerText();
      if (answers.text && !shown.includes(answers.text)) {
        throw new Error(`the check-answers page does not show the message written: ${shown.slice(0, 400)}`);
      }
    }
    await (how === 'keyboard' ? answerWithKeyboard : answerWithMouse)(page, step, answers);
    await noErrorSummary(page, `step ${n}`);
  }
  const id = sentId(page);
  if (!id) throw new Error(`no confirmation (/requests/{id}/sent) after the check-answers page; at ${page.url()}`);
  return id;
}

// ---------------------------------------------------------------------------------------------
// The caseworker, through the JSON API (demo login).

async function api(method, urlPath, token, body) {
  const response = await fetch(`${BASE_URL}${urlPath}`, {
    method,
    headers: {
      'content-type': 'application/json',
      ...(token ? { authorization: `Bearer ${token}` } : {}),
    },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  let json;
  try {
    json = text ? JSON.parse(text) : null;
  } catch {
    json = text;
  }
  return { status: response.status, body: json };
}

async function expectApi(what, method, urlPath, token, body, status) {
  const answer = await api(method, urlPath, token, body);
  if (answer.status !== status) {
    throw new Error(`${what}: ${method} ${urlPath} answered ${answer.status}: ${JSON.stringify(answer.body)}`);
  }
  checks.pass(what);
  return answer.body;
}

// ---------------------------------------------------------------------------------------------
// The three walks.

async function statusOf(page) {
  return page.locator('#status').getAttribute('data-state');
}

async function citizenWalk(browser) {
  const walk = new Walk(browser, 'citizen');
  const tab = await walk.newPage();
  const { page } = tab;
  try {
    await page.goto(`${BASE_URL}/`);
    await walk.look(tab, 'start');
    // The start page's login leads to the eID provider (here: the test OpenID provider).
    await loads(page, () => page.locator('main a[href="/login/citizen"]').first().click());
    checks.expect('citizen: the start page\'s login leads to the OpenID provider', page.url().startsWith(`${OIDC_ISSUER}/interaction/`), [page.url()]);
    await walk.look(tab, 'provider-login');
    await page.getByLabel('account').fill('citizen-anna');
    await page.getByLabel('acr').selectOption(LOA3);
    await Promise.all([
      page.waitForURL((url) => url.origin === BASE_URL, { waitUntil: 'load' }),
      page.getByRole('button', { name: 'Sign in' }).click(),
    ]);
    checks.expect('citizen: after the eID login the citizen lands on /my/requests', new URL(page.url()).pathname === '/my/requests', [page.url()]);
    await walk.look(tab, 'my-requests-empty');

    await loads(page, () => page.locator('a[href="/requests/new"]').first().click());
    const id = await ask(walk, tab, {
      category: 'ekonomi',
      urgent: false,
      text: QUESTION_AR,
      language: 'ar',
      cross_municipality: 'true',
      municipalities: ['1283'],
    }, 'mouse');
    checks.pass('citizen: asked in Arabic with consent, and got the confirmation');
    await walk.look(tab, 'sent');

    await page.goto(`${BASE_URL}/my/requests`);
    const item = page.locator(`ul.requests li[data-id="${id}"]`);
    checks.expect('citizen: /my/requests lists the request', (await item.count()) === 1, [await page.locator('main').innerText()]);
    await walk.look(tab, 'my-requests');
    await loads(page, () => item.getByRole('link').first().click());
    checks.expect(`citizen: the list links to /requests/{id}`, new URL(page.url()).pathname === `/requests/${id}`, [page.url()]);
    const before = await statusOf(page);
    checks.expect('citizen: /requests/{id} shows the status (queued)', before === 'queued', [`#status data-state=${before}`]);
    await walk.look(tab, 'request-queued');

    // A Helsingborg caseworker who speaks Arabic takes it and answers.
    const { token } = await expectApi('caseworker: demo login', 'POST', '/demo/login', null,
      { role: 'caseworker', caseworker_id: ARABIC_CASEWORKER }, 200);
    await expectApi('caseworker: claims the case', 'POST', `/api/v1/cases/${id}/claim`, token, {}, 200);
    await expectApi('caseworker: answers', 'POST', `/api/v1/cases/${id}/messages`, token, { text: ANSWER }, 201);

    await page.reload();
    const answered = await statusOf(page);
    checks.expect('citizen: after the answer the status is waiting_citizen', answered === 'waiting_citizen', [`#status data-state=${answered}`]);
    const staff = page.locator('ol.thread li.message.staff');
    checks.expect('citizen: the answer is in the thread', (await staff.filter({ hasText: ANSWER }).count()) === 1,
      [await page.locator('ol.thread').innerText().catch(() => 'no ol.thread')]);
    await walk.look(tab, 'request-answered');

    const reply = page.locator(`form[action="/requests/${id}/messages"]`);
    await reply.locator('textarea[name="text"]').fill(REPLY_AR);
    await loads(page, () => reply.locator('button[type="submit"], button:not([type])').first().click());
    await noErrorSummary(page, 'reply');
    checks.expect('citizen: the reply form answers 303 back to /requests/{id}', new URL(page.url()).pathname === `/requests/${id}`, [page.url()]);
    const mine = page.locator('ol.thread li.message').filter({ hasText: REPLY_AR });
    checks.expect('citizen: the reply is in the thread', (await mine.count()) === 1,
      [await page.locator('ol.thread').innerText().catch(() => 'no ol.thread')]);
    const after = await statusOf(page);
    checks.expect('citizen: after the reply the case is with the caseworker again (assigned)', after === 'assigned', [`#status data-state=${after}`]);
    await walk.look(tab, 'request-replied');

    const seen = await expectApi('caseworker: reads the case', 'GET', `/api/v1/cases/${id}`, token, undefined, 200);
    const last = seen.messages?.at(-1);
    checks.expect('caseworker: the citizen\'s reply reached the case', last?.text === REPLY_AR, [JSON.stringify(last)]);
  } finally {
    await walk.close();
  }
}

async function anonymousWalk(browser) {
  const walk = new Walk(browser, 'anonymous');
  const tab = await walk.newPage();
  const { page } = tab;
  let id;
  let code;
  try {
    await page.goto(`${BASE_URL}/`);
    await loads(page, () => page.locator('main a[href="/requests/new"]').first().click());
    const asked = await ask(walk, tab, {
      category: 'ekonomi',
      urgent: false,
      text: QUESTION_ANONYMOUS,
      language: 'sv',
      municipality: '1275',
    }, 'mouse');
    await walk.look(tab, 'sent');
    id = (await page.locator('#request-id').innerText()).trim();
    code = (await page.locator('#access-code').innerText()).trim();
    checks.expect('anonymous: the confirmation shows the request id and the access code', id === asked && code.length >= 8,
      [`#request-id ${JSON.stringify(id)} (URL ${asked}), #access-code of ${code.length} characters`]);
    const title = await page.title();
    checks.expect('anonymous: the access code is not in the page title or the URL', !title.includes(code) && !page.url().includes(code), [title]);

    // Later, on another browser: the id and the code open the request.
    const later = await walk.newPage();
    await later.page.goto(`${BASE_URL}/anonymous`);
    await walk.look(later, 'anonymous-form');
    await later.page.locator('[name="id"]').fill(id);
    await later.page.locator('[name="access_code"]').fill(code);
    const form = later.page.locator('form').filter({ has: later.page.locator('[name="access_code"]') });
    await loads(later.page, () => form.locator('button[type="submit"], button:not([type])').first().click());
    await noErrorSummary(later.page, '/anonymous');
    checks.expect('anonymous: the code does not end up in the URL', !later.page.url().includes(code), [later.page.url()]);
    const thread = later.page.locator('ol.thread li.message').filter({ hasText: QUESTION_ANONYMOUS });
    checks.expect('anonymous: coming back with the code shows the thread', (await thread.count()) === 1,
      [await later.page.locator('main').innerText()]);
    const state = await statusOf(later.page);
    checks.expect('anonymous: and the status', state === 'queued', [`#status data-state=${state}`]);
    await walk.look(later, 'thread');
  } finally {
    await walk.close();
  }
}

async function keyboardWalk(browser) {
  const walk = new Walk(browser, 'keyboard');
  const tab = await walk.newPage();
  const { page } = tab;
  try {
    await page.goto(`${BASE_URL}/requests/new`);
    await ask(walk, tab, {
      category: 'ekonomi',
      urgent: false,
      text: QUESTION_KEYBOARD,
      language: 'sv',
      municipality: '1275',
    }, 'keyboard');
    checks.pass('keyboard: the anonymous form reaches the confirmation with the keyboard only');
    await walk.look(tab, 'sent');
  } finally {
    await walk.close();
  }
}

const browser = await launch();
try {
  await Promise.all([
    checks.step('the citizen walk', () => citizenWalk(browser)),
    checks.step('the anonymous walk', () => anonymousWalk(browser)),
    checks.step('the keyboard walk', () => keyboardWalk(browser)),
  ]);
} finally {
  await browser.close();
}
checks.finish();
