// Opens a `receiptdb sim --html` timeline in headless Chromium (Debian's
// /usr/bin/chromium, driven by playwright-core from bindings/web) and checks
// that it renders: the lanes, the packets, and the violation in the DOM.
// Usage: node check_timeline.mjs FILE.html LANES INVARIANT [SCREENSHOT.png]
import { createRequire } from 'node:module';
import { dirname, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const require = createRequire(resolve(here, '../../../bindings/web/package.json'));
const { chromium } = require('playwright-core');

const [file, lanes, invariant, shot] = process.argv.slice(2);
const browser = await chromium.launch({
  executablePath: process.env.RECEIPTDB_CHROMIUM || '/usr/bin/chromium',
  headless: true,
  args: ['--headless=new', '--no-sandbox', '--disable-gpu', '--no-first-run'],
});
const problems = [];
try {
  const page = await browser.newPage({ viewport: { width: 1300, height: 900 } });
  const errors = [];
  page.on('pageerror', (e) => errors.push(e.message));
  await page.goto(pathToFileURL(resolve(file)).href);
  const seen = await page.evaluate(() => {
    const svg = document.querySelector('svg#timeline');
    const box = svg ? svg.getBoundingClientRect() : { width: 0, height: 0 };
    return {
      svg: !!svg,
      width: box.width,
      height: box.height,
      lanes: document.querySelectorAll('g.lane').length,
      packets: document.querySelectorAll('g.packet').length,
      band: !!document.querySelector('#violation-step'),
      violation: document.querySelector('#violation h2')?.textContent || '',
      before: document.querySelectorAll('#states tr.before').length,
      after: document.querySelectorAll('#states tr.after').length,
      cause: document.querySelectorAll('ol.cause li').length,
    };
  });
  if (shot) await page.screenshot({ path: shot });
  if (errors.length) problems.push(`page errors: ${errors.join('; ')}`);
  if (!seen.svg || seen.width < 100 || seen.height < 100) problems.push('no rendered timeline');
  if (seen.lanes !== Number(lanes)) problems.push(`lanes ${seen.lanes}, expected ${lanes}`);
  if (seen.packets < 1) problems.push('no packets drawn');
  if (!seen.band) problems.push('the violating step is not highlighted');
  if (!seen.violation.includes(invariant)) problems.push(`violation heading "${seen.violation}" lacks ${invariant}`);
  if (seen.after < 1) problems.push('no state after the violation');
  if (seen.cause < 1) problems.push('no cause chain');
  console.log(JSON.stringify(seen));
} finally {
  await browser.close();
}
if (problems.length) {
  console.error(problems.join('\n'));
  process.exit(1);
}
