// The caseworkers' pages end to end in a real browser (issue 22, point 8), against the demo
// application that tests/integration/browser.rs starts (seeded federation, manual clock: no
// time passes unless a test moves it, so nothing here waits for a ring to time out).
//
//   BASE_URL=… ARTIFACTS=… node tests/browser/staff.mjs
//
// Two walks, one after the other in one Chromium (each person in a browser context of their
// own; every caseworker also has an English twin context, logged in as the same person with
// `?lang=en`, to look at each state of a page in both languages):
//
// 1. arabic:   Helsingborg's 1283-01 (the reception generalist, who speaks Arabic) has /work
//              open. A Perstorp citizen (demo login) asks for budget advice in Arabic through
//              the citizen pages, consenting to Helsingborg. Perstorp has nobody who speaks
//              Arabic, so the request widens to ring 1 at once (DECISIONS.md "Routing",
//              tests/integration/routing.rs `widens_at_once_when_home_has_nobody`); `ekonomi`
//              is routed by pull (the default, src/routing/settings.rs), so the request
//              appears in the QUEUE (not as an offer). It must appear on the open /work without
//              a reload (static/work.js swaps /work?fragment=live on the event stream's news).
//              The caseworker claims it from the queue, answers, and the citizen reads the
//              answer on their page; then the caseworker transfers it back to Perstorp with a
//              reason, and it leaves Helsingborg's /work.
// 2. keyboard: Perstorp's 1275-01 sees the transferred case in their queue, then claims and
//              answers a Swedish Perstorp request with the keyboard only (Tab, Shift+Tab,
//              Enter and typing; no clicks), with a visible focus outline. Then a child concern
//              (`oro_barn`) from Perstorp, unclaimed and claimed.
//
// axe-core (WCAG 2.1 AA), html-validate (on the HTML as served) and a full-page screenshot on
// /work (empty and with items), /work/cases/{id} (unclaimed and claimed, with a child concern),
// /work/rules and /admin, in Swedish and in English. Screenshots land in
// $ARTIFACTS/<walk>/NN-<lang>-<step>.png. Exits non-zero on any failure.

import * as path from 'node:path';

import { Checks, artifacts, checkPage, demoLogin, env, launch, loads, slug, watchCsp } from './lib.mjs';

const BASE_URL = env('BASE_URL').replace(/\/$/, '');

/** Helsingborg's reception generalist: every staff category, and Arabic (src/demo.rs). */
const HELSINGBORG_ARABIC = '1283-01';
/** Perstorp's reception generalist (Swedish and English; nobody in Perstorp speaks Arabic). */
const PERSTORP = '1275-01';
const FEDERATION_ADMIN = 'demo-admin-federation-1';
/** A second Perstorp citizen, for the requests sent through the JSON API. */
const OTHER_CITIZEN = '198112189876';

const QUESTION_AR = 'مرحبًا، لدي ديون كثيرة ولا أعرف كيف أدفع الإيجار هذا الشهر.';
const ANSWER_AR = 'مرحبًا، يمكننا أن نضع ميزانية معًا. Vi kan göra en budget tillsammans.';
const TRANSFER_REASON = 'Den sökande vill hellre träffa någon i Perstorp; tolk bokas där.';
const QUESTION_SV = 'Hej! Jag behöver hjälp med en plan för mina skulder.';
const ANSWER_KEYBOARD = 'Hej! Välkommen att ringa oss på tisdag, så gör vi en plan tillsammans.';
const CHILD_CONCERN = 'Jag är orolig för grannens barn, som ofta är ensamt hemma på kvällarna.';

/** How long a queue row may take to arrive over the event stream. */
const LIVE_TIMEOUT = 15_000;

const checks = new Checks('staff.mjs');

// ---------------------------------------------------------------------------------------------
// A tab: one browser context (one person), its CSP watch, and the HTML it was last served.

class Tab {
  constructor(walk, context, page, lang) {
    this.walk = walk;
    this.context = context;
    this.page = page;
    this.lang = lang;
    this.csp = watchCsp(page);
    this.lastDocument = undefined;
    // Whether the document shown has its event stream open (static/work.js on /work).
    this.streaming = false;
    page.on('framenavigated', (frame) => {
      if (frame === page.mainFrame()) this.streaming = false;
    });
    page.on('response', (response) => {
      const request = response.request();
      if (request.isNavigationRequest() && request.frame() === page.mainFrame()) this.lastDocument = response;
      if (new URL(response.url()).pathname === '/api/v1/events' && response.ok()) this.streaming = true;
    });
  }

  /**
   * Waits until the page listens to the event stream: what is published before that is not
   * heard (a reload would show it, but the point is that none is needed).
   */
  async listening() {
    const until = Date.now() + 10_000;
    while (!this.streaming) {
      if (Date.now() > until) throw new Error(`${this.page.url()}: the event stream (/api/v1/events) never opened`);
      await new Promise((resolve) => { setTimeout(resolve, 50); });
    }
  }

  /** The body of the document shown now as it was served, if it is the last one loaded. */
  async served() {
    const response = this.lastDocument;
    if (!response || response.status() >= 300) return undefined;
    if (response.url().split('#')[0] !== this.page.url().split('#')[0]) return undefined;
    return response.text().catch(() => undefined);
  }

  async goto(urlPath) {
    return this.page.goto(`${BASE_URL}${urlPath}`);
  }

  path() {
    return new URL(this.page.url()).pathname;
  }
}

/** A walk: its contexts, a folder for its screenshots, numbered in order. */
class Walk {
  constructor(browser, name) {
    this.browser = browser;
    this.name = name;
    this.dir = artifacts(name);
    this.shot = 0;
    this.contexts = [];
  }

  /** A fresh context (own cookies) in `lang`; English by `?lang=en` and its cookie. */
  async tab(lang = 'sv') {
    const context = await this.browser.newContext({ locale: 'sv-SE' });
    this.contexts.push(context);
    const page = await context.newPage();
    page.setDefaultTimeout(20_000);
    const tab = new Tab(this, context, page, lang);
    if (lang !== 'sv') {
      await tab.goto(`/?lang=${lang}`);
      const cookies = await context.cookies(BASE_URL);
      if (!cookies.some((c) => c.name === 'brygga_lang' && c.value === lang)) {
        throw new Error(`?lang=${lang} did not set the language cookie`);
      }
    }
    return tab;
  }

  /**
   * axe, the HTML validator (on `html`, else on the document shown if it is the one served:
   * not after a live update) and a screenshot of what `tab` shows now, with its `<html lang>` checked.
   */
  async look(tab, step, { validate = true, html } = {}) {
    this.shot += 1;
    const name = `${String(this.shot).padStart(2, '0')}-${tab.lang}-${step}`;
    const where = `${this.name} ${tab.lang} ${step} (${tab.path()})`;
    const htmlLang = await tab.page.evaluate(() => document.documentElement.getAttribute('lang'));
    checks.expect(`${where}: <html lang="${tab.lang}">`, htmlLang === tab.lang, [`<html lang="${htmlLang}">`]);
    await checkPage(checks, tab.page, {
      label: where,
      html: html ?? (validate ? await tab.served() : undefined),
      dir: this.dir,
      name,
      csp: tab.csp,
    });
  }

  /** A screenshot only (a page that is not the subject of this script). */
  async picture(tab, step) {
    this.shot += 1;
    const name = `${String(this.shot).padStart(2, '0')}-${tab.lang}-${step}`;
    await tab.page.screenshot({ path: path.join(this.dir, `${slug(name)}.png`), fullPage: true });
  }

  async close() {
    await Promise.all(this.contexts.map((c) => c.close()));
  }
}

/** A caseworker logged in through /demo, in Swedish, and their English twin. */
async function caseworker(walk, id) {
  const sv = await walk.tab('sv');
  const en = await walk.tab('en');
  for (const tab of [sv, en]) {
    const landed = await demoLogin(tab.page, BASE_URL, { role: 'caseworker', caseworker_id: id });
    if (landed !== '/work') throw new Error(`${id} (${tab.lang}): the demo login landed on ${landed}, not /work`);
  }
  checks.pass(`${walk.name}: ${id} logs in through /demo and lands on /work (sv and en)`);
  return { sv, en };
}

/** Opens `urlPath` in the English twin and looks at it (the Swedish one is looked at by the caller). */
async function lookInEnglish(walk, en, urlPath, step, status = 200) {
  const response = await en.goto(urlPath);
  checks.expect(`${walk.name} en ${step}: ${urlPath} answers ${status}`, response?.status() === status,
    [`answered ${response?.status()} at ${en.page.url()}`]);
  await walk.look(en, step);
}

/** Fails with what an error summary or a refusal says, if the page shows one. */
async function noComplaint(page, where) {
  for (const selector of ['.error-summary', '#refusal']) {
    const shown = page.locator(selector);
    if (await shown.count()) {
      throw new Error(`${where}: the page says ${(await shown.first().innerText()).replace(/\s+/g, ' ')}`);
    }
  }
}

// ---------------------------------------------------------------------------------------------
// The JSON API, for what is not the subject here (requests of other citizens).

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
  if (!response.ok) throw new Error(`${method} ${urlPath} answered ${response.status}: ${text}`);
  return json;
}

/** A Perstorp citizen's request through the JSON API, kept at home; answers its id. */
async function requestThroughApi(category, text) {
  const { token } = await api('POST', '/demo/login', null,
    { role: 'citizen', personnummer: OTHER_CITIZEN, municipality: '1275' });
  const sent = await api('POST', '/api/v1/requests', token,
    { category, language: 'sv', text, consent: { cross_municipality: false } });
  return sent.id;
}

// ---------------------------------------------------------------------------------------------
// The citizen's question pages, with the mouse: each step's fields of `answers` that the page
// shows are filled in, then "continue"; on the check-answers page, "send".

async function askThroughPages(walk, tab, answers) {
  const { page } = tab;
  for (let n = 1; n <= 8; n += 1) {
    const sent = /^\/requests\/([^/]+)\/sent$/.exec(tab.path());
    if (sent) return sent[1];
    const send = page.locator('form[action="/requests"] button[name="go"][value="send"]');
    if (await send.count()) {
      const shown = await page.locator('main').innerText();
      if (!shown.includes(answers.text)) throw new Error(`the check-answers page does not show the question: ${shown.slice(0, 300)}`);
      await walk.picture(tab, 'citizen-check-answers');
      await loads(page, () => send.click());
      await noComplaint(page, 'sending the request');
      continue;
    }
    for (const [name, wanted] of Object.entries(answers)) {
      const fields = page.locator(`form [name="${name}"]:not([type="hidden"])`);
      if (!(await fields.count())) continue;
      const type = await fields.first().getAttribute('type');
      const tag = await fields.first().evaluate((el) => el.tagName.toLowerCase());
      if (type === 'radio') {
        await page.locator(`input[name="${name}"][value="${wanted}"]`).check();
      } else if (type === 'checkbox' && typeof wanted === 'boolean') {
        await fields.first().setChecked(wanted);
      } else if (type === 'checkbox') {
        const all = await fields.count();
        for (let i = 0; i < all; i += 1) {
          const box = fields.nth(i);
          await box.setChecked([wanted].flat().includes(await box.getAttribute('value')));
        }
      } else if (tag === 'select') {
        await fields.first().selectOption(String(wanted));
      } else {
        await fields.first().fill(String(wanted));
      }
    }
    await loads(page, () => page.locator('form[action="/requests/new"] button[name="go"][value="next"]').click());
    await noComplaint(page, `question step ${n}`);
  }
  throw new Error(`no confirmation page after the question steps; at ${page.url()}`);
}

// ---------------------------------------------------------------------------------------------
// The keyboard.

/** What has the focus: enough to recognise a control, and whether its focus is visible. */
function focused(page) {
  return page.evaluate(() => {
    const el = document.activeElement;
    if (!el || el === document.body) return { tag: 'body', id: '', name: '', action: '', outline: false };
    const style = getComputedStyle(el);
    const outline = style.outlineStyle !== 'none' && parseFloat(style.outlineWidth) >= 2;
    return {
      tag: el.tagName.toLowerCase(),
      id: el.id,
      name: el.getAttribute('name') ?? '',
      type: el.getAttribute('type') ?? '',
      action: el.form?.getAttribute('action') ?? '',
      outline: outline && el.matches(':focus-visible'),
    };
  });
}

/** The controls the keyboard reached that showed a visible focus outline. */
const seenOutline = [];

/**
 * Presses Tab (then, if it never came, Shift+Tab) until `wanted(focused)`; answers what has
 * the focus then, noting in `seenOutline` whether its focus was visible.
 */
async function tabTo(page, what, wanted) {
  for (const key of ['Tab', 'Shift+Tab']) {
    for (let i = 0; i < 90; i += 1) {
      await page.keyboard.press(key);
      const now = await focused(page);
      if (wanted(now)) {
        if (now.outline) seenOutline.push(`${now.tag}#${now.id}`);
        return now;
      }
    }
  }
  throw new Error(`the keyboard never reaches ${what}`);
}

// ---------------------------------------------------------------------------------------------
// Walk 1: a Perstorp citizen's Arabic request, live in Helsingborg's queue.

/** The case id of the Arabic request, for the second walk. */
let arabicCase;

async function arabicWalk(browser) {
  const walk = new Walk(browser, 'arabic');
  try {
    const hbg = await caseworker(walk, HELSINGBORG_ARABIC);
    const citizen = await walk.tab('sv');
    const landed = await demoLogin(citizen.page, BASE_URL, { role: 'citizen', municipality: '1275' });
    checks.expect('arabic: a Perstorp citizen logs in through /demo', landed === '/my/requests', [`landed on ${landed}`]);

    // /work before anything came: an empty queue, in both languages.
    checks.expect('arabic: Helsingborg\'s /work opens with an empty queue', (await hbg.sv.page.locator('#queue-empty').count()) === 1,
      [await hbg.sv.page.locator('#queue').innerText().catch(() => 'no #queue')]);
    await walk.look(hbg.sv, 'work-empty');
    await lookInEnglish(walk, hbg.en, '/work', 'work-empty');

    // From here on, the Swedish /work must not load again: a marker on its window survives
    // only as long as the document does, and every main-frame navigation is counted.
    const { page: work } = hbg.sv;
    let navigations = 0;
    work.on('framenavigated', (frame) => {
      if (frame === work.mainFrame()) navigations += 1;
    });
    await work.evaluate(() => { window.bryggaStayed = true; });
    await hbg.sv.listening();

    await loads(citizen.page, () => citizen.page.locator('a[href="/requests/new"]').first().click());
    const id = await askThroughPages(walk, citizen, {
      category: 'ekonomi',
      urgent: false,
      text: QUESTION_AR,
      language: 'ar',
      cross_municipality: 'true',
      municipalities: ['1283'],
    });
    arabicCase = id;
    checks.pass(`arabic: the citizen asked in Arabic through the pages, consenting to Helsingborg (case ${id})`);
    await walk.picture(citizen, 'citizen-sent');

    const row = work.locator(`#queue li[data-id="${id}"]`);
    const arrived = await row.waitFor({ timeout: LIVE_TIMEOUT }).then(() => true, () => false);
    const stayed = await work.evaluate(() => window.bryggaStayed === true);
    checks.expect('arabic: the request appears in Helsingborg\'s open queue without a reload', arrived && stayed && navigations === 0,
      [`row arrived: ${arrived}, same document: ${stayed}, navigations: ${navigations}`,
        await work.locator('#queue').innerText().catch(() => 'no #queue')]);
    if (!arrived) throw new Error('the request never reached the open /work; the rest of the walk needs it');
    const meta = (await row.innerText()).replace(/\s+/g, ' ');
    checks.expect('arabic: the queue row says Arabic, from Perstorp', /arabiska/i.test(meta) && /Perstorp/.test(meta), [meta]);
    checks.expect('arabic: no offer for it (ekonomi is routed by pull: it is claimed from the queue)',
      (await work.locator(`#offers li[data-id="${id}"]`).count()) === 0);
    // work.js fills the polite live region a moment after the swap, so that it is announced.
    const announced = await work.waitForFunction(() => document.getElementById('live-status')?.textContent.trim(), null, { timeout: 5_000 })
      .then((h) => h.jsonValue(), () => '');
    checks.expect('arabic: the live region announces the update', Boolean(announced), [`#live-status: ${JSON.stringify(announced)}`]);
    // The page as it is after the live update (the served HTML is older: no validator).
    await walk.look(hbg.sv, 'work-live-item', { validate: false });
    await lookInEnglish(walk, hbg.en, '/work', 'work-with-item');

    // The case before anyone has it: metadata only (R8).
    await loads(work, () => row.locator(`a[href="/work/cases/${id}"]`).click());
    checks.expect('arabic: the queue row links to /work/cases/{id}', hbg.sv.path() === `/work/cases/${id}`, [work.url()]);
    checks.expect('arabic: before the claim the case shows metadata only (R8)',
      (await work.locator('#metadata-only').count()) === 1 && (await work.locator('#thread').count()) === 0);
    checks.expect('arabic: and may be claimed', (await work.locator('#claim').count()) === 1);
    await walk.look(hbg.sv, 'case-unclaimed');
    await lookInEnglish(walk, hbg.en, `/work/cases/${id}`, 'case-unclaimed');

    // Claimed from the queue on /work (the row's own button).
    await hbg.sv.goto('/work');
    await loads(work, () => work.locator(`#claim-${id}`).click());
    await noComplaint(work, 'claim');
    checks.expect('arabic: claiming answers 303 to the case page', hbg.sv.path() === `/work/cases/${id}`, [work.url()]);
    const state = await work.locator('#state').getAttribute('data-state');
    checks.expect('arabic: the case is assigned', state === 'assigned', [`#state data-state=${state}`]);
    const question = work.locator('#thread li.message.citizen').filter({ hasText: QUESTION_AR });
    checks.expect('arabic: once claimed, the citizen\'s question is shown', (await question.count()) === 1,
      [await work.locator('main').innerText()]);
    const ground = await work.locator('#ground').innerText();
    checks.expect('arabic: the legal ground names the agreement rule and links to its explanation',
      /R5/.test(ground) && (await work.locator('#ground a[href="/work/rules#R5"]').count()) >= 1, [ground]);
    await walk.look(hbg.sv, 'case-claimed');
    await lookInEnglish(walk, hbg.en, `/work/cases/${id}`, 'case-claimed');

    // The answer.
    await work.locator('#text').fill(ANSWER_AR);
    await loads(work, () => work.locator(`form[action="/work/cases/${id}/messages"] button[type="submit"]`).click());
    await noComplaint(work, 'reply');
    checks.expect('arabic: replying answers 303 to the case page', hbg.sv.path() === `/work/cases/${id}`, [work.url()]);
    checks.expect('arabic: the answer is in the thread', (await work.locator('#thread li.message.staff').filter({ hasText: ANSWER_AR }).count()) === 1,
      [await work.locator('#thread').innerText().catch(() => 'no #thread')]);
    const waiting = await work.locator('#state').getAttribute('data-state');
    checks.expect('arabic: and the case waits for the citizen', waiting === 'waiting_citizen', [`#state data-state=${waiting}`]);
    await walk.look(hbg.sv, 'case-answered');

    // The citizen reads it on their page.
    await citizen.goto(`/requests/${id}`);
    const answer = citizen.page.locator('ol.thread li.message.staff').filter({ hasText: ANSWER_AR });
    checks.expect('arabic: the citizen sees the answer on /requests/{id}', (await answer.count()) === 1,
      [await citizen.page.locator('main').innerText()]);
    await walk.picture(citizen, 'citizen-answered');

    // Back to Perstorp, with a reason.
    await work.locator('#municipality').selectOption('1275');
    await work.locator('#reason').fill(TRANSFER_REASON);
    await loads(work, () => work.locator(`form[action="/work/cases/${id}/transfer"] button[type="submit"]`).click());
    await noComplaint(work, 'transfer');
    checks.expect('arabic: transferring answers 303 to /work', hbg.sv.path() === '/work', [work.url()]);
    checks.expect('arabic: the case has left Helsingborg\'s /work (neither mine nor in the queue)',
      (await work.locator(`#live li[data-id="${id}"]`).count()) === 0, [await work.locator('#live').innerText()]);
    await walk.look(hbg.sv, 'work-after-transfer');
    // Out of Helsingborg's reach: a refused view is a plain 404, saying nothing of the case.
    const after = await hbg.sv.goto(`/work/cases/${id}`);
    checks.expect('arabic: after the transfer the case page answers Helsingborg 404, without the thread',
      after?.status() === 404 && (await hbg.sv.page.locator('#thread').count()) === 0
        && !(await hbg.sv.page.locator('main').innerText()).includes(QUESTION_AR),
      [`/work/cases/${id} answered ${after?.status()}`]);
    await walk.picture(hbg.sv, 'case-after-transfer');

    await citizen.goto(`/requests/${id}`);
    const where = await citizen.page.locator('#municipality').innerText().catch(() => '');
    checks.expect('arabic: the citizen\'s page still shows the answer after the transfer',
      (await answer.count()) === 1, [await citizen.page.locator('main').innerText()]);
    await walk.picture(citizen, 'citizen-after-transfer');
    console.log(`        (the citizen's page says: ${where.replace(/\s+/g, ' ')})`);
  } finally {
    await walk.close();
  }
}

// ---------------------------------------------------------------------------------------------
// Walk 2: Perstorp, with the keyboard only; a child concern; /work/rules; /admin.

/**
 * The Arabic case as Perstorp sees it after Helsingborg sent it back: at home, waiting, in
 * Perstorp's queue at once with an interpreter flagged (nobody in Perstorp speaks Arabic and
 * the case can go nowhere else, so waiting out a ring would strand it), the thread readable
 * (R15: the reception generalist is the supervisor), and Perstorp takes it.
 */
async function sentBack(walk, pst, id) {
  const { page } = pst.sv;
  checks.expect('keyboard: the case sent back is in Perstorp\'s queue at once',
    (await page.locator(`#queue li[data-id="${id}"]`).count()) === 1);
  const shown = await pst.sv.goto(`/work/cases/${id}`);
  const home = await page.locator('#home').innerText().catch(() => '');
  const state = await page.locator('#state').getAttribute('data-state').catch(() => null);
  checks.expect('keyboard: Perstorp sees the case sent back: at home, queued, with the answer in the thread',
    shown?.status() === 200 && /Perstorp/.test(home) && state === 'queued'
      && (await page.locator('#thread li.message.staff').filter({ hasText: ANSWER_AR }).count()) === 1,
    [`answered ${shown?.status()}, #home ${home}, #state ${state}`]);
  const why = await page.locator('#transfer-reason').innerText().catch(() => '');
  checks.expect('keyboard: Perstorp reads why the case was sent back', why.includes(TRANSFER_REASON), [why]);
  await walk.look(pst.sv, 'case-sent-back');
  const claim = page.locator('#claim');
  checks.expect('keyboard: the case sent back can be claimed in Perstorp', (await claim.count()) > 0);
  if (!(await claim.count())) return;
  const [answer] = await Promise.all([
    page.waitForResponse((r) => r.request().method() === 'POST' && r.url().endsWith(`/work/cases/${id}/claim`)),
    loads(page, () => claim.click()),
  ]);
  const after = await page.locator('#state').getAttribute('data-state').catch(() => null);
  checks.expect('keyboard: Perstorp claims the case sent back (303 to the case, now assigned)',
    answer.status() === 303 && after === 'assigned',
    [`answered ${answer.status()}, #state ${after}`]);
  await walk.look(pst.sv, 'case-sent-back-claimed');
  await pst.sv.goto('/work');
}

async function keyboardWalk(browser) {
  const walk = new Walk(browser, 'keyboard');
  try {
    const pst = await caseworker(walk, PERSTORP);
    const { page: work } = pst.sv;

    if (arabicCase) await sentBack(walk, pst, arabicCase);

    // A Swedish request from Perstorp: it appears live, then the keyboard takes it.
    await pst.sv.listening();
    const id = await requestThroughApi('ekonomi', QUESTION_SV);
    await work.locator(`#queue li[data-id="${id}"]`).waitFor({ timeout: LIVE_TIMEOUT });
    checks.pass('keyboard: a Swedish Perstorp request appears in the open queue');

    const claim = await tabTo(work, `the claim button of ${id}`, (f) => f.id === `claim-${id}`);
    checks.expect('keyboard: Tab reaches the claim button of the new request', claim.tag === 'button');
    await loads(work, () => work.keyboard.press('Enter'));
    await noComplaint(work, 'claim with the keyboard');
    checks.expect('keyboard: Enter claims it and shows the case', pst.sv.path() === `/work/cases/${id}`, [work.url()]);
    await tabTo(work, 'the reply field', (f) => f.id === 'text');
    await work.keyboard.type(ANSWER_KEYBOARD);
    await tabTo(work, 'the reply button', (f) => f.tag === 'button' && f.action === `/work/cases/${id}/messages`);
    await loads(work, () => work.keyboard.press('Enter'));
    await noComplaint(work, 'reply with the keyboard');
    checks.expect('keyboard: the reply is in the thread', (await work.locator('#thread li.message.staff').filter({ hasText: ANSWER_KEYBOARD }).count()) === 1,
      [await work.locator('main').innerText()]);
    const state = await work.locator('#state').getAttribute('data-state');
    checks.expect('keyboard: claimed and answered with the keyboard only', state === 'waiting_citizen', [`#state data-state=${state}`]);
    checks.expect('keyboard: the focused control showed a visible focus outline', seenOutline.length > 0,
      ['no focused control had an outline of at least 2px under :focus-visible']);
    await walk.look(pst.sv, 'case-answered-by-keyboard');

    // A child concern, before and after the claim.
    const child = await requestThroughApi('oro_barn', CHILD_CONCERN);
    await pst.sv.goto('/work');
    const childRow = work.locator(`#queue li[data-id="${child}"]`);
    checks.expect('keyboard: the child concern is first in the queue and flagged',
      (await work.locator('#queue li').first().getAttribute('data-id')) === child
        && (await childRow.locator('.flag.child').count()) === 1,
      [await work.locator('#queue').innerText()]);
    await walk.look(pst.sv, 'work-child-concern');
    await lookInEnglish(walk, pst.en, '/work', 'work-child-concern');

    await pst.sv.goto(`/work/cases/${child}`);
    checks.expect('keyboard: the child concern cannot be missed on its page', (await work.locator('#child-concern').isVisible()));
    await walk.look(pst.sv, 'case-child-unclaimed');
    await lookInEnglish(walk, pst.en, `/work/cases/${child}`, 'case-child-unclaimed');
    await loads(work, () => work.locator('#claim').click());
    await noComplaint(work, 'claim the child concern');
    const claimed = await work.locator('#state').getAttribute('data-state');
    checks.expect('keyboard: the child concern is claimed', claimed === 'assigned', [`#state data-state=${claimed}`]);
    await walk.look(pst.sv, 'case-child-claimed');
    await lookInEnglish(walk, pst.en, `/work/cases/${child}`, 'case-child-claimed');

    await pst.sv.goto('/work/rules');
    await walk.look(pst.sv, 'rules');
    await lookInEnglish(walk, pst.en, '/work/rules', 'rules');

    // The administrators' overview (the rest of /admin is tested by the lead's walk).
    const admin = await walk.tab('sv');
    const adminEn = await walk.tab('en');
    for (const tab of [admin, adminEn]) {
      const landed = await demoLogin(tab.page, BASE_URL, { role: 'admin', admin_id: FEDERATION_ADMIN });
      checks.expect(`keyboard ${tab.lang}: a federation administrator logs in through /demo and lands on /admin`, landed === '/admin', [`landed on ${landed}`]);
    }
    await walk.look(admin, 'admin');
    await lookInEnglish(walk, adminEn, '/admin', 'admin');
  } finally {
    await walk.close();
  }
}

const browser = await launch();
try {
  await checks.step('the Arabic walk (Perstorp citizen → Helsingborg, live, and back)', () => arabicWalk(browser));
  await checks.step('the Perstorp walk (keyboard only, a child concern, the rules, /admin)', () => keyboardWalk(browser));
} finally {
  await browser.close();
}
checks.finish();
