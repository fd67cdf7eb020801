/**
 * The admin dashboard: `GET /` serves the self-contained page and
 * `GET /state.json` reports services, endpoints with rates and latency
 * percentiles, and recent errors, over a real socket while traffic flows.
 */
import assert from "node:assert/strict";
import type { DashboardState } from "../src/admin/state.ts";
import { percentile } from "../src/admin/state.ts";
import { startHttpBackend } from "./support/backend.ts";
import { httpRequest, servicesYaml, startPetrel } from "./support/petrel.ts";

Deno.test("dashboard: percentile interpolates cumulative buckets", () => {
  assert.equal(percentile([], 0.5), null);
  const b: [number, number][] = [[1, 0], [2, 10], [5, 10], [Infinity, 10]];
  assert.equal(percentile(b, 0.5), 1.5);
  assert.equal(percentile(b, 1), 2);
});

async function state(adminPort: number): Promise<DashboardState> {
  const r = await fetch(`http://127.0.0.1:${adminPort}/state.json`);
  assert.equal(r.status, 200);
  assert.match(r.headers.get("content-type") ?? "", /application\/json/);
  return await r.json() as DashboardState;
}

Deno.test("dashboard: GET / and /state.json while traffic flows", async () => {
  const a = await startHttpBackend();
  const b = await startHttpBackend();
  await using petrel = await startPetrel(servicesYaml({
    "web.test:80": {
      endpoints: [`127.0.0.1:${a.port}`, `127.0.0.1:${b.port}`],
    },
  }));
  try {
    const page = await fetch(`http://127.0.0.1:${petrel.adminPort}/`);
    assert.equal(page.status, 200);
    assert.match(page.headers.get("content-type") ?? "", /text\/html/);
    const html = await page.text();
    assert.match(html, /state\.json/);
    assert.doesNotMatch(html, /<script[^>]+src=|<link[^>]+href=/);

    await state(petrel.adminPort); // the rate baseline
    let stop = false;
    const traffic = (async () => {
      while (!stop) {
        await httpRequest(petrel.port, "web.test", "/");
      }
    })();
    await new Promise((r) => setTimeout(r, 1100));
    const s1 = await state(petrel.adminPort);
    stop = true;
    await traffic;
    // One failing request feeds the recent-errors ring.
    const bad = await httpRequest(petrel.port, "nowhere.invalid", "/oops");
    assert.ok(bad.status >= 500);
    const s2 = await state(petrel.adminPort);

    assert.deepEqual(s1.services.map((s) => s.name), ["web.test:80"]);
    const eps = s1.endpoints.filter((e) => e.authority === "web.test:80");
    assert.deepEqual(
      eps.map((e) => e.addr).sort(),
      [`127.0.0.1:${a.port}`, `127.0.0.1:${b.port}`].sort(),
    );
    const total = eps.reduce((n, e) => n + e.requests, 0);
    assert.ok(total > 5, `requests ${total}`);
    assert.ok(eps.some((e) => e.requestRate > 0), JSON.stringify(eps));
    for (const e of eps) {
      if (e.requests > 0) assert.ok(e.p50Ms !== null && e.p50Ms > 0);
      // Live pool state and Peak-EWMA cost from the balancer itself.
      assert.equal(e.state, "ready", JSON.stringify(e));
      assert.ok(
        typeof e.costMs === "number" && e.costMs > 0,
        JSON.stringify(e),
      );
    }
    assert.ok(s1.balancers.some((x) => x.backend === "web.test:80"));
    const err = s2.recentErrors.at(-1);
    assert.ok(err, JSON.stringify(s2.recentErrors));
    assert.equal(err.path, "/oops");
    assert.equal(err.status, bad.status);
  } finally {
    await petrel.close();
    await a.close();
    await b.close();
  }
});

const CHROMIUM = "/usr/bin/chromium";
const hasChromium = (() => {
  try {
    return Deno.statSync(CHROMIUM).isFile;
  } catch {
    return false;
  }
})();

Deno.test({
  name: "dashboard: headless Chromium sees endpoint rates change; screenshot",
  ignore: !hasChromium,
  // Chromium's own processes and pipes outlive the page's resources.
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const { chromium } = await import("playwright-core");
    const backend = await startHttpBackend();
    await using petrel = await startPetrel(servicesYaml({
      "web.test:80": { endpoints: [`127.0.0.1:${backend.port}`] },
    }));
    const dir = await Deno.makeTempDir({ prefix: "petrel-dashboard-" });
    // A fresh profile (Playwright passes it as --user-data-dir).
    const browser = await chromium.launchPersistentContext(`${dir}/profile`, {
      executablePath: CHROMIUM,
      headless: true,
      args: [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
      ],
    });
    let stop = false;
    const traffic = (async () => {
      while (!stop) {
        await httpRequest(petrel.port, "web.test", "/");
        await new Promise((r) => setTimeout(r, 2));
      }
    })();
    try {
      const page = await browser.newPage();
      await page.goto(`http://127.0.0.1:${petrel.adminPort}/`);
      const addr = `127.0.0.1:${backend.port}`;
      const row = page.locator("#endpoints tbody tr", { hasText: addr });
      await row.waitFor({ timeout: 10_000 });
      const requests = async () =>
        Number(await row.locator("td").nth(8).textContent());
      const first = await requests();
      // The page polls every second: the count must move without reloading.
      let later = first;
      const deadline = Date.now() + 5000;
      while (later <= first && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 200));
        later = await requests();
      }
      assert.ok(later > first, `requests ${first} → ${later}`);
      const rate = Number(await row.locator("td").nth(6).textContent());
      assert.ok(rate > 0, `rate ${rate}`);
      const shot = `${dir}/dashboard.png`;
      await page.screenshot({ path: shot, fullPage: true });
      assert.ok((await Deno.stat(shot)).size > 1000);
      console.log(`dashboard screenshot: ${shot}`);
    } finally {
      stop = true;
      await traffic;
      await browser.close();
      await Deno.remove(`${dir}/profile`, { recursive: true }).catch(() => {});
      await petrel.close();
      await backend.close();
    }
  },
});
