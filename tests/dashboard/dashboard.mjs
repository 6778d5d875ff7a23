// SPDX-License-Identifier: MIT
// The dashboard in a real browser (Debian's chromium, driven by playwright-core):
// run by tests/cli/test_dashboard.sh against `tgharvest run` on the fake TDLib.
// Every view is opened and screenshot; the live view must show a message
// injected into the collector, search must find it, its edit history must
// render, and retrying a dead letter must resolve it. Any console error or
// warning, or uncaught page error, fails the test.
//
// Environment: TGH_DASH_BASE (server URL), TGH_DASH_KEY (admin key),
// TGH_DASH_CONTROL (the fake TDLib's control file), TGH_DASH_CHAT (chat to
// inject into), TGH_DASH_NEXT_ID (message id to use), TGH_DASH_ARTIFACTS
// (screenshots), TGH_DASH_DEAD_LETTER (an open dead letter a retry fixes).
import { appendFileSync, existsSync, mkdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';

const CHROMIUM = '/usr/bin/chromium';
const env = name => {
    const v = process.env[name];
    if (!v) { console.error(`dashboard: ${name} is not set`); process.exit(1); }
    return v;
};
const BASE = env('TGH_DASH_BASE').replace(/\/$/, '');
const KEY = env('TGH_DASH_KEY');
const CONTROL = env('TGH_DASH_CONTROL');
const CHAT = env('TGH_DASH_CHAT');
const PHOTO_CHAT = env('TGH_DASH_PHOTO_CHAT');
const NEXT_ID = Number(env('TGH_DASH_NEXT_ID'));
const ART = env('TGH_DASH_ARTIFACTS');
const DEAD = env('TGH_DASH_DEAD_LETTER');
mkdirSync(ART, { recursive: true });

// ES modules ignore NODE_PATH; require() honours it (the test points it at .deps/npm).
let chromium;
try {
    ({ chromium } = createRequire(import.meta.url)('playwright-core'));
} catch (e) {
    console.error(`dashboard: playwright-core is missing (${e.code || e.message}): run scripts/deps.sh, or ` +
        'npm install --no-save --no-audit --no-fund --prefix .deps/npm playwright-core@1.65.1, and set NODE_PATH=.deps/npm/node_modules');
    process.exit(1);
}
if (!existsSync(CHROMIUM)) {
    console.error(`dashboard: ${CHROMIUM} is missing: apt-get install chromium (scripts/deps.sh)`);
    process.exit(1);
}

const problems = []; // console errors and warnings, page errors
let step = 'start';
const ok = what => console.log(`ok: dashboard: ${what}`);
const check = (cond, what) => { if (!cond) throw new Error(what); };
// A token FTS tokenizers keep whole: letters and digits only.
const token = `dashprobe${randomBytes(5).toString('hex')}`;
const text = `${token} arrived live`;
const edited = `${token} arrived live, then edited`;

const browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
const context = await browser.newContext({ viewport: { width: 1366, height: 768 } });
const page = await context.newPage();
page.setDefaultTimeout(10000);
page.on('console', m => {
    if (m.type() === 'error' || m.type() === 'warning') problems.push(`console ${m.type()} (${step}): ${m.text()}`);
});
page.on('pageerror', e => problems.push(`page error (${step}): ${e.message}`));
page.on('dialog', d => { problems.push(`unexpected dialog (${step}): ${d.message()}`); d.dismiss(); });

// Each view is screenshot, and must fit the laptop screen's width (no sideways scrolling).
const shot = async name => {
    const width = await page.evaluate(() => document.documentElement.scrollWidth);
    if (width > 1366) problems.push(`${name}: the page is ${width} px wide, wider than the 1366 px window`);
    const junk = /undefined|\[object |\bNaN\b|^null$/m.exec(await page.innerText('#app'));
    if (junk) problems.push(`${name}: the page shows '${junk[0]}'`);
    await page.screenshot({ path: join(ART, `${name}.png`), fullPage: true });
};
const inject = cmd => appendFileSync(CONTROL, `${JSON.stringify(cmd)}\n`);
const nav = async (hash, view) => {
    await page.evaluate(h => { location.hash = h; }, hash);
    await page.waitForSelector(`#app[data-view="${view}"]`);
};

let rc = 0;
try {
    // (a) overview, with the key taken from the fragment
    step = 'overview';
    await page.goto(`${BASE}/#key=${encodeURIComponent(KEY)}`);
    await page.waitForSelector('#ov-version .big');
    const version = (await page.textContent('#ov-version .big')).trim();
    check(/^\d+\.\d+/.test(version), `overview: version shown as '${version}'`);
    const health = (await page.textContent('#ov-health .big')).trim();
    check(health === 'ready', `overview: health shows '${health}', not 'ready'`);
    check(!page.url().includes(KEY), `the key is still in the address bar: ${page.url()}`);
    check(page.url().endsWith('#/overview'), `after the key the address is ${page.url()}`);
    check(await page.evaluate(k => Object.values(sessionStorage).includes(k), KEY), 'the key is not in session storage');
    check(await page.isHidden('#key-form'), 'the key form is shown although a key was given');
    const bars = await page.locator('svg.chart rect.bar').count();
    check(bars >= 48, `activity chart: ${bars} bars, expected one per hour of the last 48 h`);
    check(await page.locator('#ov-store .big').textContent() !== '— messages', 'store totals missing');
    await shot('overview');
    ok(`overview: version ${version}, health ready, ${bars} hourly bars, key moved to session storage`);

    // (b) chats table lists the chat
    step = 'chats';
    await page.click('#nav a[data-view="chats"]');
    const row = page.locator(`tr[data-chat="${CHAT}"]`);
    await row.waitFor();
    const cells = await row.locator('td').allTextContents();
    check(cells[1] === CHAT, `chats: id cell '${cells[1]}'`);
    check(Number(cells[3].replace(/,/g, '')) > 0, `chats: message count '${cells[3]}'`);
    check(/\d+ (s|min|h|d)/.test(cells[6]), `chats: lag '${cells[6]}' is not human`);
    await row.getByRole('button', { name: 'Backfill' }).click();
    await page.waitForSelector('#notice.ok:has-text("Backfill")');
    await shot('chats');
    ok(`chats: ${cells[0]} listed (${cells[3]} messages, lag ${cells[6]}); backfill requested`);

    // (c) live: a message injected into the collector appears
    step = 'live';
    await page.click('#nav a[data-view="live"]');
    await page.waitForSelector('#live-state[data-state="connected"]');
    inject({ cmd: 'new_message', chat: Number(CHAT), id: NEXT_ID, date: Math.floor(Date.now() / 1000), text });
    const item = page.locator(`#live-list li[data-kind="new"][data-id="${NEXT_ID}"]`);
    await item.waitFor({ timeout: 20000 });
    check((await item.textContent()).includes(text), 'live: the new message lacks its text');
    inject({ cmd: 'edit', chat: Number(CHAT), id: NEXT_ID, text: edited });
    await page.locator(`#live-list li[data-kind="edit"][data-id="${NEXT_ID}"]`).waitFor({ timeout: 20000 });
    const first = await page.locator('#live-list li').first().getAttribute('data-kind');
    check(first === 'edit', `live: the newest item is '${first}', not the edit`);
    await shot('live');
    ok(`live: new message ${CHAT}/${NEXT_ID} and its edit shown, newest on top`);

    // (d) search finds it; the result opens the message view
    step = 'search';
    await page.click('#nav a[data-view="search"]');
    await page.fill('#search-q', token);
    await page.press('#search-q', 'Enter');
    const hit = page.locator(`#search-results li[data-id="${NEXT_ID}"]`);
    await hit.waitFor();
    const mark = (await hit.locator('mark').allTextContents()).join(' ');
    check(mark.toLowerCase().includes(token), `search: the match is not marked (marks: '${mark}')`);
    await shot('search');
    ok(`search: '${token}' found and marked`);

    // (f) the message view with its edit history
    step = 'message';
    await hit.locator('a').first().click();
    await page.waitForSelector('#current-text');
    check((await page.textContent('#current-text')) === edited, 'message: current text is not the edit');
    const versions = await page.locator('#versions li .msg-text').allTextContents();
    check(versions.length === 1 && versions[0] === text, `message: versions ${JSON.stringify(versions)}`);
    await shot('message');
    ok('message view: current text and one earlier version');

    // (f) a message with a stored photo shows it inline, fetched with the key
    step = 'media';
    await nav(`#/message/${PHOTO_CHAT}/1`, 'message');
    const img = page.locator('#media li.media-item[data-state="stored"] img.media-img');
    await img.waitFor();
    await page.waitForFunction(() => {
        const i = document.querySelector('#media img.media-img');
        return i && i.complete && i.naturalWidth > 0;
    });
    const width = await img.evaluate(i => i.naturalWidth);
    check(width === 8, `media: the photo decoded ${width} pixels wide, expected 8`);
    check((await img.getAttribute('src')).startsWith('blob:'), 'media: the image is not from a fetched blob');
    check((await page.locator('#media .badge').first().textContent()) === 'stored', 'media: no stored badge');
    await shot('media');
    ok('message view: the stored photo is shown inline');

    // (f) the chat view lists its latest messages, the injected one first
    step = 'chat';
    await nav(`#/chat/${CHAT}`, 'chat');
    await page.waitForSelector('table.messages');
    const top = await page.locator('table.messages tbody tr').first().getAttribute('data-id');
    check(top === String(NEXT_ID), `chat view: newest message is ${top}, expected ${NEXT_ID}`);
    await page.waitForSelector('#gaps .gap-summary');
    const gapText = await page.locator('#gaps .gap-summary').textContent();
    check(/Missing ids: [\d,]+ deleted/.test(gapText) || /No missing ids recorded/.test(gapText), `chat view: gaps section says "${gapText}"`);
    await shot('chat');
    ok('chat view: latest messages, newest first; its completeness');

    // (e) dead letters: retry the given one; it is then resolved (committed)
    step = 'dead-letters';
    await page.click('#nav a[data-view="dead-letters"]');
    const dl = page.locator(`tr.dl[data-id="${DEAD}"]`);
    await dl.waitFor();
    await dl.getByRole('button', { name: 'Payload' }).click();
    check(await page.locator('tr.payload-row:not([hidden]) pre').count() === 1, 'dead letters: payload not shown');
    await dl.getByRole('button', { name: 'Retry' }).click();
    await dl.locator('td.state:has-text("resolved")').waitFor();
    const state = (await dl.locator('td.state').textContent()).trim();
    check(/committed/.test(state), `dead letters: state after retry '${state}'`);
    await page.waitForSelector(`#notice.ok:has-text("Dead letter ${DEAD} retried: committed")`);
    check(await dl.getByRole('button', { name: 'Retry' }).isDisabled(), 'dead letters: retry still enabled');
    await shot('dead-letters');
    await nav('#/dead-letters?state=resolved', 'dead-letters');
    await page.locator(`tr.dl[data-id="${DEAD}"]`).waitFor();
    ok(`dead letters: ${DEAD} listed, retried, committed and resolved`);

    // Back on the overview, the keyed session still works and nothing complained.
    step = 'overview again';
    await page.click('#nav a[data-view="overview"]');
    await page.waitForSelector('#ov-version .big');
    check(problems.length === 0, `console errors or warnings:\n  ${problems.join('\n  ')}`);
    ok('no console errors or warnings');
    console.log(`injected text: ${edited}`);
} catch (e) {
    rc = 1;
    console.error(`FAIL: dashboard (${step}): ${e.message}`);
    for (const p of problems) console.error(`  ${p}`);
    try { await page.screenshot({ path: join(ART, 'failure.png'), fullPage: true }); } catch { /* the page is gone */ }
    console.error(`  screenshots in ${ART}`);
}
await browser.close();
process.exit(rc);
