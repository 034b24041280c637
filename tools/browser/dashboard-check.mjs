// Drives the dashboard in Debian's headless Chromium for Tests/Pester/Browser.Tests.ps1.
//
//   node dashboard-check.mjs <dashboard url> <queue> <expected pending> <artifacts folder>
//
// The test and this script take turns over stdin/stdout, one line at a time:
//   this script prints "STEP <name> [data]" when the page shows what a step waits for, and for the steps
//   marked (waits) it waits for a line "go" from the test before it goes on; it prints "PASS" at the end,
//   or "FAIL <reason>" and exits 1.
//   STEP pending <n>          the queue's row shows <n> pending tasks (the test then starts a worker)
//   STEP failed <id>  (waits) the failures table shows the failed task (the test then fixes its cause)
//   STEP retried <id>         Retry was clicked, the task ran again and succeeded
//   STEP deleted <id>         Delete was clicked, confirmed, and the success record is gone
//   then it reads a line "live <id>" (a task the test sent that writes, sleeps a few seconds, writes again):
//   STEP live-first <id>      the task's page shows its first lines and progress bar while it still runs
//   STEP live-done <id>       the same page, without a reload, shows its last line and that it succeeded
// Every wait has a deadline; screenshots go to the artifacts folder.
import { chromium } from "playwright-core";
import { createInterface } from "node:readline";
import { join } from "node:path";

const [url, queue, expectedPending, artifacts] = process.argv.slice(2);
const lines = createInterface({ input: process.stdin })[Symbol.asyncIterator]();
const say = text => process.stdout.write(text + "\n");
const waitForGo = async () => {
  const { value, done } = await lines.next();
  if (done || value.trim() !== "go") throw new Error(`expected "go" from the test, got ${done ? "end of input" : JSON.stringify(value)}`);
};

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM_PATH || "/usr/bin/chromium",
  headless: true,
  args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync"],
});
const page = await browser.newPage({ viewport: { width: 1280, height: 1100 } });
const problems = [];
page.on("pageerror", e => problems.push("page error: " + e.message));
page.on("console", m => { if (m.type() === "error") problems.push("console error: " + m.text()); });
page.on("response", r => { if (r.status() >= 400) problems.push(`${r.request().method()} ${new URL(r.url()).pathname} answered ${r.status()}`); });
page.on("dialog", d => d.accept());

const row = page.locator(`#queues tr[data-queue="${queue}"]`);
const count = state => row.locator(`td.${state}`);
// Waits until the element's whole text is `text`: the page refreshes itself every 2 s.
const expectText = (locator, text, timeout = 60_000) =>
  within(`text ${text}`, locator.filter({ hasText: new RegExp(`^${text}$`) }).waitFor({ timeout }));
// Names what was awaited when a wait fails.
const within = (what, promise) => promise.catch(e => { throw new Error(`waiting for ${what}: ${String(e.message).split("\n")[0]}`); });

try {
  await page.goto(url);
  await row.click();
  await page.locator(`#queues tr.selected[data-queue="${queue}"]`).waitFor({ timeout: 10_000 });
  await expectText(count("pending"), expectedPending, 15_000);
  say(`STEP pending ${expectedPending}`);

  // A worker starts now: the counts move as tasks run, live, without a reload.
  await expectText(count("failed"), "1");
  await expectText(count("pending"), "0");
  const failure = page.locator("#failures tbody tr").first();
  await failure.waitFor({ timeout: 10_000 });
  const id = await failure.getAttribute("data-id");
  const workers = await page.locator("#workers tbody tr").count();
  if (workers < 1) throw new Error("the workers table is empty while a worker runs");
  // Fits the window: no horizontal scroll at 1280 px.
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
  if (overflow > 0) throw new Error(`the page is ${overflow} px wider than its 1280 px window`);
  // The failure shows the argument it was sent with, and its date on one line.
  const args = await failure.locator("td.args").innerText();
  if (!args.includes("tq-browser-flag-")) throw new Error(`the failure's arguments read '${args}'`);
  const dateLines = await failure.locator("td.t").evaluate(td => { const r = document.createRange(); r.selectNodeContents(td); return new Set([...r.getClientRects()].map(c => Math.round(c.top))).size; });
  if (dateLines !== 1) throw new Error(`the failure's date takes ${dateLines} lines`);
  // Output as people read it, not JSON: "report 1", not ["report 1"].
  const output = await page.locator("#results tbody tr .output").first().innerText();
  if (/^[\[{"]/.test(output.trim())) throw new Error(`a success's output reads as JSON: ${output}`);
  // The failure's id links to its log, which shows the error the task threw.
  await failure.locator("a.task-link").click();
  await within("the failed task's log", page.locator("#log tr.s-error", { hasText: "settings file" }).first().waitFor({ timeout: 15_000 }));
  await page.screenshot({ path: join(artifacts, "dashboard-failure.png"), fullPage: true });
  say(`STEP failed ${id}`);
  await waitForGo();

  // Retry from the page; the fixed task comes back and succeeds.
  await failure.locator("button.retry").click();
  await expectText(count("failed"), "0", 30_000);
  await page.locator(`#results tbody tr[data-id="${id}"]`).waitFor({ timeout: 30_000 });
  await page.locator("#failures tbody tr").first().waitFor({ state: "detached", timeout: 10_000 });
  // Every task has ended before the count is read: one still running would add to it after the delete.
  await expectText(count("active"), "0", 30_000);
  await expectText(count("pending"), "0", 30_000);
  const succeededBefore = Number(await count("succeeded").innerText());
  say(`STEP retried ${id}`);

  // Delete asks first (the dialog is accepted above), then the record is gone.
  await page.locator(`#results tbody tr[data-id="${id}"] button.delete`).click();
  await within("the deleted row to go", page.locator(`#results tbody tr[data-id="${id}"]`).waitFor({ state: "detached", timeout: 10_000 }));
  await expectText(count("succeeded"), String(succeededBefore - 1), 10_000);
  say(`STEP deleted ${id}`);

  await page.screenshot({ path: join(artifacts, "dashboard.png"), fullPage: true });

  // A running task's page follows its log live: the first lines and the progress bar while it runs, then the rest.
  const { value: liveLine } = await lines.next();
  const liveId = String(liveLine ?? "").replace(/^live /, "").trim();
  if (!liveId) throw new Error(`expected "live <id>" from the test, got ${JSON.stringify(liveLine)}`);
  await page.goto(`${url}?queue=${encodeURIComponent(queue)}&task=${encodeURIComponent(liveId)}`);
  await within("the first line of the running task", page.locator("#log tr.s-verbose", { hasText: "first line" }).waitFor({ timeout: 30_000 }));
  if (await page.locator("#log tr", { hasText: "last line" }).count() > 0) throw new Error("the last line was there as soon as the first: the page did not follow the task live");
  const stateText = await page.locator("#log-state").innerText();
  if (!/following/.test(stateText)) throw new Error(`the running task's page says '${stateText}'`);
  await within("the progress bar", page.locator("#log-bars progress").first().waitFor({ timeout: 10_000 }));
  const bar = await page.locator("#log-bars").innerText();
  if (!bar.includes("Deploying")) throw new Error(`the progress bar reads '${bar}'`);
  await page.screenshot({ path: join(artifacts, "dashboard-log.png"), fullPage: true });
  say(`STEP live-first ${liveId}`);
  await within("the last line", page.locator("#log tr.s-warning", { hasText: "last line" }).waitFor({ timeout: 30_000 }));
  await expectText(page.locator("#log-state"), "succeeded", 15_000);
  say(`STEP live-done ${liveId}`);

  if (problems.length) throw new Error(problems.join("; "));
  say("PASS");
  await browser.close();
  process.exit(0);
} catch (e) {
  try { await page.screenshot({ path: join(artifacts, "dashboard-error.png"), fullPage: true }); } catch { }
  say("FAIL " + String(e.message ?? e).split("\n")[0] + (problems.length ? " | " + problems.join("; ") : ""));
  await browser.close();
  process.exit(1);
}
