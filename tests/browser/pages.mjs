// Every page in Swedish and in English, and in the right-to-left stub language (locales/ar,
// served in the demo only, to check that the layout mirrors): the right `<html lang>` and `dir`, axe-core with
// zero WCAG 2.1 AA violations, html-validate on the HTML as served, and a full-page screenshot
// of each in $ARTIFACTS/pages/<lang>-<name>.png. Exits non-zero on any failure.
//
//   BASE_URL=http://127.0.0.1:8080 ARTIFACTS=/tmp/shots node tests/browser/pages.mjs
//
// Started by tests/integration/browser.rs against `brygga demo` (the /demo page logs in).

import { Checks, artifacts, checkPage, env, launch, watchCsp } from './lib.mjs';

const BASE_URL = env('BASE_URL').replace(/\/$/, '');
const SHOTS = artifacts('pages');

/**
 * The pages, with the status each should answer. `login`: seen by a citizen logged in through
 * the /demo page's form (a Perstorp citizen); `staff`: by a Perstorp caseworker logged in there.
 */
const PAGES = [
  { path: '/', name: 'start', status: 200 },
  { path: '/accessibility', name: 'accessibility', status: 200 },
  { path: '/no-such-page', name: 'not-found', status: 404 },
  { path: '/requests/new', name: 'ask', status: 200 },
  { path: '/anonymous', name: 'anonymous', status: 200 },
  { path: '/demo', name: 'demo', status: 200 },
  { path: '/my/requests', name: 'my-requests', status: 200, login: true },
  { path: '/my/data', name: 'my-data', status: 200, login: true },
  { path: '/work', name: 'work', status: 200, staff: true },
  { path: '/work/rules', name: 'work-rules', status: 200, staff: true },
];

const LANGUAGES = [
  { code: 'sv', dir: 'ltr' },
  { code: 'en', dir: 'ltr' },
  // A stub: its texts fall back to Swedish, but the page must lay out right to left.
  { code: 'ar', dir: 'rtl' },
];

const checks = new Checks('pages.mjs');

/** Opens `path` in `lang` (English by `?lang=en`, which redirects and sets the cookie). */
async function open(page, context, path, lang) {
  if (lang.code === 'sv') {
    return page.goto(`${BASE_URL}${path}`);
  }
  const response = await page.goto(`${BASE_URL}${path}?lang=${lang.code}`);
  const redirect = response?.request().redirectedFrom();
  const redirected = redirect ? (await redirect.response())?.status() : undefined;
  const cookies = await context.cookies(BASE_URL);
  checks.expect(
    `${lang.code} ${path}: ?lang=${lang.code} redirects to the page without it and sets the cookie`,
    redirected === 303
      && new URL(page.url()).search === ''
      && new URL(page.url()).pathname === path
      && cookies.some((c) => c.name === 'brygga_lang' && c.value === lang.code),
    [`redirect status ${redirected}, landed on ${page.url()}, cookies ${cookies.map((c) => c.name).join(',')}`],
  );
  return response;
}

async function checkOne(page, context, entry, lang, csp) {
  const label = `${lang.code} ${entry.path}`;
  const response = await open(page, context, entry.path, lang);
  const status = response?.status();
  checks.expect(`${label}: answers ${entry.status}`, status === entry.status, [`answered ${status} at ${page.url()}`]);
  const { htmlLang, dir } = await page.evaluate(() => ({
    htmlLang: document.documentElement.getAttribute('lang'),
    dir: document.documentElement.getAttribute('dir'),
  }));
  checks.expect(
    `${label}: <html lang="${lang.code}" dir="${lang.dir}">`,
    htmlLang === lang.code && dir === lang.dir,
    [`<html lang="${htmlLang}" dir="${dir}">`],
  );
  await checkPage(checks, page, {
    label,
    html: await response.text(),
    dir: SHOTS,
    name: `${lang.code}-${entry.name}`,
    csp,
  });
}

/** Logs in as a Perstorp citizen with the /demo page's form; answers whether that worked. */
async function demoLogin(page, lang) {
  return checks.step(`${lang.code} demo login: a Perstorp citizen's button on /demo leads to /my/requests`, async () => {
    await page.goto(`${BASE_URL}/demo`);
    const button = page.getByRole('button', { name: /Perstorp/ }).first();
    await Promise.all([page.waitForURL((url) => url.pathname !== '/demo'), button.click()]);
    const landed = new URL(page.url()).pathname;
    checks.expect(
      `${lang.code} demo login: a Perstorp citizen's button on /demo leads to /my/requests`,
      landed === '/my/requests',
      [`landed on ${page.url()}`],
    );
    return landed === '/my/requests';
  });
}

/** Logs in as Perstorp's caseworker 1275-01 with the /demo page's form; lands on /work. */
async function staffLogin(page, lang) {
  const label = `${lang.code} demo login: a Perstorp caseworker on /demo lands on /work`;
  return checks.step(label, async () => {
    await page.goto(`${BASE_URL}/demo`);
    await Promise.all([
      page.waitForURL((url) => url.pathname !== '/demo'),
      page.evaluate(() => {
        const input = document.querySelector('input[name="caseworker_id"][value="1275-01"]');
        input.form.requestSubmit();
      }),
    ]);
    const landed = new URL(page.url()).pathname;
    checks.expect(label, landed === '/work', [`landed on ${page.url()}`]);
    return landed === '/work';
  });
}

async function walk(browser, lang) {
  // One context per language: its own cookies (language, CSRF, session). Both browsers ask
  // for Swedish, so English comes from `?lang=en` and its cookie alone.
  const context = await browser.newContext({ locale: 'sv-SE' });
  const page = await context.newPage();
  const csp = watchCsp(page);
  try {
    for (const entry of PAGES.filter((p) => !p.login && !p.staff)) {
      await checks.step(`${lang.code} ${entry.path}`, () => checkOne(page, context, entry, lang, csp));
    }
    const loggedIn = await demoLogin(page, lang);
    for (const entry of PAGES.filter((p) => p.login)) {
      if (!loggedIn) {
        checks.fail(`${lang.code} ${entry.path}: not checked, the demo login failed`);
        continue;
      }
      await checks.step(`${lang.code} ${entry.path}`, () => checkOne(page, context, entry, lang, csp));
    }
    const staff = await staffLogin(page, lang);
    for (const entry of PAGES.filter((p) => p.staff)) {
      if (!staff) {
        checks.fail(`${lang.code} ${entry.path}: not checked, the staff demo login failed`);
        continue;
      }
      await checks.step(`${lang.code} ${entry.path}`, () => checkOne(page, context, entry, lang, csp));
    }
  } finally {
    await context.close();
  }
}

const browser = await launch();
try {
  await Promise.all(LANGUAGES.map((lang) => walk(browser, lang)));
} finally {
  await browser.close();
}
checks.finish();
