// SPDX-License-Identifier: MIT
// The HTML data-quality report in a real browser (Debian's chromium, driven
// by playwright-core): opened from a file:// URL with the network cut off,
// it must render its totals, a row per chat and its charts, with no console
// error, no failed request and nothing fetched; a screenshot is kept.
// Environment: TGH_REPORT_FILE (the page), TGH_REPORT_CHATS (rows expected),
// TGH_REPORT_ARTIFACTS (where report.png goes).
import { createRequire } from 'node:module';
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

const CHROMIUM = '/usr/bin/chromium';
const env = name => {
    const v = process.env[name];
    if (!v) { console.error(`report: ${name} is not set`); process.exit(1); }
    return v;
};
const FILE = env('TGH_REPORT_FILE');
const CHATS = Number(env('TGH_REPORT_CHATS'));
const ART = env('TGH_REPORT_ARTIFACTS');
mkdirSync(ART, { recursive: true });

let chromium;
try {
    ({ chromium } = createRequire(import.meta.url)('playwright-core'));
} catch (e) {
    console.error(`report: playwright-core is missing (${e.code || e.message}): run scripts/deps.sh`);
    process.exit(1);
}
if (!existsSync(CHROMIUM)) {
    console.error(`report: ${CHROMIUM} is missing: apt-get install chromium (scripts/deps.sh)`);
    process.exit(1);
}

const problems = [];
const browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
try {
    const context = await browser.newContext({ viewport: { width: 1366, height: 768 }, offline: true });
    const page = await context.newPage();
    page.on('console', m => { if (m.type() === 'error' || m.type() === 'warning') problems.push(`console ${m.type()}: ${m.text()}`); });
    page.on('pageerror', e => problems.push(`page error: ${e.message}`));
    page.on('request', r => { if (!r.url().startsWith('file:')) problems.push(`fetched ${r.url()}`); });
    page.on('requestfailed', r => problems.push(`request failed: ${r.url()}`));
    await page.goto(pathToFileURL(FILE).href);
    const rows = await page.locator('#chats tbody tr[data-chat]').count();
    if (rows !== CHATS) problems.push(`${rows} chat rows, expected ${CHATS}`);
    const cards = await page.locator('#totals .card').count();
    if (cards < 10) problems.push(`${cards} total cards`);
    const charts = await page.locator('figure svg').count();
    if (charts < 3) problems.push(`${charts} charts, expected 3`);
    const title = await page.title();
    if (title !== 'tgharvest data-quality report') problems.push(`title '${title}'`);
    const junk = /undefined|\[object |\bNaN\b/.exec(await page.innerText('body'));
    if (junk) problems.push(`the page shows '${junk[0]}'`);
    await page.screenshot({ path: join(ART, 'report.png'), fullPage: true });
    console.log(`ok: report: ${rows} chats, ${cards} totals, ${charts} charts, no console error`);
} finally {
    await browser.close();
}
if (problems.length) {
    for (const p of problems) console.error(`report: ${p}`);
    process.exit(1);
}
