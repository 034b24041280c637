// Takes a screenshot of a page in Debian's headless Chromium: node screenshot.mjs <url> <png> [width] [height]
// Used for the dashboard picture in the README (docs/dashboard.png).
import { chromium } from "playwright-core";

const [url, path, width = "1280", height = "900"] = process.argv.slice(2);
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM_PATH || "/usr/bin/chromium",
  args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync"],
});
const page = await browser.newPage({ viewport: { width: Number(width), height: Number(height) } });
await page.goto(url);
await page.locator("#queues tbody tr").first().waitFor({ timeout: 10_000 });
await page.locator("#status", { hasText: "updated" }).waitFor({ timeout: 10_000 });
await page.screenshot({ path, fullPage: false });
await browser.close();
