// Drives Trent's web console in headless Chromium (Debian's `chromium`) with Playwright:
// a real `trent serve` on 127.0.0.1 with a temporary data directory and a configured
// credential, sign-in (wrong secret, unknown key, right one), create keys and an alias, disable,
// schedule and cancel deletion, enable, switch region; checks that the secret never goes over
// the wire and that the CSP lets the page run with no errors. Saves the key list to
// docs/console.png. Prints `N passed, M failed`.
//
//   TRENT_BIN=target/release/trent node conformance/console/console.test.mjs
//
// Knobs: CHROMIUM=/usr/bin/chromium, CONSOLE_SCREENSHOT=path (default docs/console.png).

import { spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
const BIN = process.env.TRENT_BIN ?? join(ROOT, "target/release/trent");
const SCREENSHOT = process.env.CONSOLE_SCREENSHOT ?? join(ROOT, "docs/console.png");
const ACCESS_KEY = "AKIACONSOLETEST00001";
const SECRET = "console-secret-7d41f0a9c2";
const ACCOUNT = "111122223333";
const STEP_TIMEOUT = 15_000;

let passed = 0;
let failed = 0;
/** @param {string} name @param {() => Promise<void>} body */
async function step(name, body) {
  try {
    await body();
    passed++;
    console.log(`ok - ${name}`);
  } catch (e) {
    failed++;
    console.log(`not ok - ${name}: ${String(e?.message ?? e).split("\n").slice(0, 6).join("\n#   ")}`);
  }
}
function assert(cond, message) {
  if (!cond) throw new Error(message);
}

/** Starts `trent serve` on a free port; resolves with its URL once it listens. */
async function startServer(work) {
  const config = join(work, "trent.toml");
  writeFileSync(
    config,
    `[[credentials]]\naccess_key_id = "${ACCESS_KEY}"\nsecret_access_key = "${SECRET}"\naccount_id = "${ACCOUNT}"\n`,
  );
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith("TRENT_")));
  const child = spawn(
    BIN,
    ["serve", "--listen", "127.0.0.1:0", "--data-dir", join(work, "data"), "--config", config],
    { env: { ...env, TRENT_LOG: "warn" }, stdio: ["ignore", "pipe", "inherit"] },
  );
  const url = await new Promise((ok, fail) => {
    const lines = createInterface({ input: child.stdout });
    lines.once("line", (line) => {
      const m = line.match(/^listening on (http:\/\/\S+)$/);
      m ? ok(m[1]) : fail(new Error(`unexpected first line: ${line}`));
    });
    child.once("exit", (code) => fail(new Error(`trent exited with ${code}`)));
    child.once("error", fail);
  });
  return { child, url };
}

const work = mkdtempSync(join(tmpdir(), "trent-console-"));
let server;
let browser;
try {
  server = await startServer(work);
  browser = await chromium.launch({
    executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
    // Chromium's sandbox needs user namespaces that CI containers running as root lack.
    // insecure.test: a name for 127.0.0.1 that is not a secure context (no WebCrypto there).
    args: ["--no-sandbox", "--disable-dev-shm-usage", "--host-resolver-rules=MAP insecure.test 127.0.0.1"],
  });
  const context = await browser.newContext({ viewport: { width: 1240, height: 760 } });
  const page = await context.newPage();
  page.setDefaultTimeout(STEP_TIMEOUT);

  // Everything the page logs as an error, and every byte it sends.
  const pageErrors = [];
  page.on("pageerror", (e) => pageErrors.push(`pageerror: ${e.message}`));
  page.on("console", (m) => {
    // A refused KMS call is logged by Chromium as a failed resource load: expected.
    if (m.type() === "error" && !/status of 400/.test(m.text())) pageErrors.push(m.text());
  });
  const sent = [];
  page.on("request", (r) => sent.push(`${r.url()}\n${JSON.stringify(r.headers())}\n${r.postData() ?? ""}`));
  const kmsStatuses = [];
  const operations = new Set();
  page.on("response", (r) => {
    if (r.request().method() !== "POST") return;
    kmsStatuses.push(r.status());
    if (r.status() === 200) operations.add(r.request().headers()["x-amz-target"]);
  });

  const notice = page.locator("#notice");
  const signIn = async (secret, { accessKey = ACCESS_KEY, remember = false } = {}) => {
    await page.fill("#access-key-id", accessKey);
    await page.fill("#secret-access-key", secret);
    await page.fill("#region", "us-east-1");
    await page.setChecked("#remember", remember);
    await page.click("#sign-in");
  };
  const keyState = () => page.locator("#key-state").getAttribute("data-state");
  const waitState = async (state) => {
    await page.waitForFunction(
      (s) => document.getElementById("key-state")?.dataset.state === s,
      state,
      { timeout: STEP_TIMEOUT },
    );
  };
  /** Creates a key through the form; returns its id. */
  const createKey = async ({ spec, usage, description, alias }) => {
    await page.click("#create-key-open");
    await page.selectOption("#create-spec", spec);
    if (usage) await page.selectOption("#create-usage", usage);
    await page.fill("#create-description", description);
    await page.fill("#create-key-alias", alias ?? "");
    await page.click("#create-key");
    await page.waitForFunction(() => document.getElementById("notice")?.classList.contains("ok"));
    const text = await notice.textContent();
    const id = text?.match(/Created key ([0-9a-f-]{36})/)?.[1];
    assert(id, `no key id in notice: ${text}`);
    await page.waitForSelector(`tr[data-key-id="${id}"]`);
    return id;
  };

  await step("the console loads under /console/ and shows the sign-in form", async () => {
    const response = await page.goto(`${server.url}/console/`);
    assert(response?.status() === 200, `status ${response?.status()}`);
    await page.waitForSelector("#sign-in-view:not([hidden])");
  });

  await step("outside a secure context the page says why it cannot sign, and offers no sign-in", async () => {
    const insecure = server.url.replace("127.0.0.1", "insecure.test");
    const other = await context.newPage();
    await other.goto(`${insecure}/console/`);
    await other.waitForSelector("#notice:not([hidden])");
    const text = await other.textContent("#notice");
    assert(/WebCrypto only over HTTPS or on localhost/.test(text ?? ""), `notice: ${text}`);
    assert(await other.isDisabled("#sign-in"), "sign-in enabled");
    await other.close();
  });

  await step("a wrong secret is refused with AWS's error, and the user stays signed out", async () => {
    await signIn("not-the-secret");
    await page.waitForSelector("#notice:not([hidden])");
    const text = await notice.textContent();
    assert(/InvalidSignatureException/.test(text ?? ""), `notice: ${text}`);
    assert(await page.isVisible("#sign-in-view"), "sign-in form hidden");
  });

  await step("an unknown access key is refused (UnrecognizedClientException)", async () => {
    await signIn(SECRET, { accessKey: "AKIANOSUCHKEY0000000" });
    await page.waitForFunction(() => /UnrecognizedClient/.test(document.getElementById("notice")?.textContent ?? ""));
    assert(await page.isVisible("#sign-in-view"), "sign-in form hidden");
  });

  await step("the right secret signs in to an empty key list", async () => {
    await signIn(SECRET);
    await page.waitForSelector("#keys-view:not([hidden])");
    await page.waitForSelector("#keys-empty:not([hidden])");
    const who = await page.textContent("#who-text");
    assert(who?.includes(ACCESS_KEY) && who.includes("us-east-1"), `who: ${who}`);
  });

  await step("without 'keep me signed in' nothing is stored, and a reload signs out", async () => {
    const stored = await page.evaluate(() => sessionStorage.length + localStorage.length + document.cookie.length);
    assert(stored === 0, `browser storage holds ${stored} entries`);
    await page.reload();
    await page.waitForSelector("#sign-in-view:not([hidden])");
  });

  await step("'keep me signed in' survives a reload of the tab (sessionStorage)", async () => {
    await signIn(SECRET, { remember: true });
    await page.waitForSelector("#keys-view:not([hidden])");
    await page.reload();
    await page.waitForSelector("#keys-view:not([hidden])");
    const inLocal = await page.evaluate(() => localStorage.length);
    assert(inLocal === 0, "localStorage used");
  });

  let keyId = "";
  await step("create key: a symmetric key with a non-ASCII description and an alias", async () => {
    keyId = await createKey({
      spec: "SYMMETRIC_DEFAULT",
      description: "Payments — clé de chiffrement",
      alias: "alias/payments",
    });
    const row = page.locator(`tr[data-key-id="${keyId}"]`);
    const text = await row.textContent();
    assert(text?.includes("alias/payments"), `row: ${text}`);
    assert(text?.includes("Payments — clé de chiffrement"), `row: ${text}`);
    assert(text?.includes("Enabled"), `row: ${text}`);
    assert((await page.textContent("#keys-scope"))?.includes(ACCOUNT), "account not shown");
  });

  await step("the key's detail shows metadata, policy, tags, rotation and key material", async () => {
    await page.click(`tr[data-key-id="${keyId}"] a`);
    await waitState("Enabled");
    assert((await page.textContent("#key-title")) === "alias/payments", "title is not the alias");
    assert((await page.textContent("#key-subtitle")) === `arn:aws:kms:us-east-1:${ACCOUNT}:key/${keyId}`, "ARN");
    const meta = await page.textContent("#key-metadata");
    assert(meta?.includes("SYMMETRIC_DEFAULT") && meta.includes("AWS_KMS") && meta.includes("ENCRYPT_DECRYPT"), `metadata: ${meta}`);
    await page.waitForFunction(() => document.querySelector("#key-policy pre")?.textContent?.includes("kms:*"));
    await page.waitForFunction(() => /Automatic rotation\s*Disabled/.test(document.getElementById("key-rotation")?.textContent ?? ""));
    await page.waitForFunction(() => /No tags/.test(document.getElementById("key-tags")?.textContent ?? ""));
    await page.waitForFunction(() => !/Loading/.test(document.getElementById("key-materials")?.textContent ?? "Loading"));
    // The key's recent events come from the audit trail (CloudTrail's LookupEvents).
    await page.waitForFunction(() => /CreateKey/.test(document.getElementById("key-events-table")?.textContent ?? ""));
  });

  await step("disable: the state changes to Disabled and Enable is offered", async () => {
    await page.click("#disable-key");
    await waitState("Disabled");
    assert(await page.isVisible("#enable-key"), "no Enable button");
    assert(!(await page.isVisible("#disable-key")), "Disable button still shown");
  });

  await step("schedule deletion with a 7-day window: PendingDeletion, with the date", async () => {
    await page.fill("#deletion-window", "7");
    await page.click("#schedule-deletion");
    await waitState("PendingDeletion");
    const text = await page.textContent("#pending-text");
    const due = new Date(Date.now() + 7 * 86_400_000).toISOString().slice(0, 10);
    assert(text?.includes(due), `pending text ${text}, expected ${due}`);
  });

  await step("cancel deletion: the key is Disabled again (AWS's rule)", async () => {
    await page.click("#cancel-deletion");
    await waitState("Disabled");
  });

  await step("enable: the key is Enabled again", async () => {
    await page.click("#enable-key");
    await waitState("Enabled");
  });

  await step("create alias on the detail page", async () => {
    await page.fill("#alias-name", "alias/billing");
    await page.click("#create-alias");
    await page.waitForFunction(() => document.getElementById("notice")?.classList.contains("ok"));
    assert((await page.textContent("#key-aliases"))?.includes("alias/billing"), "alias not listed");
    assert((await page.inputValue("#alias-name")) === "alias/", "alias input not reset");
  });

  await step("an action the server refuses shows its error (duplicate alias)", async () => {
    await page.fill("#alias-name", "alias/billing");
    await page.click("#create-alias");
    await page.waitForFunction(() => /AlreadyExistsException/.test(document.getElementById("notice")?.textContent ?? ""));
  });

  await step("the key list reflects the changes, with more keys in other states", async () => {
    await page.click("a.back");
    await page.waitForSelector(`tr[data-key-id="${keyId}"]`);
    const signing = await createKey({
      spec: "ECC_NIST_P256",
      usage: "SIGN_VERIFY",
      description: "Release signing",
      alias: "alias/release-signing",
    });
    const mac = await createKey({ spec: "HMAC_256", description: "Webhook MAC" });
    const old = await createKey({ spec: "SYMMETRIC_DEFAULT", description: "Legacy backups" });
    // Disable one and schedule another for deletion, through the detail page.
    await page.click(`tr[data-key-id="${mac}"] a`);
    await waitState("Enabled");
    await page.click("#disable-key");
    await waitState("Disabled");
    await page.goto(`${server.url}/console/#/key/${old}`);
    await waitState("Enabled");
    await page.fill("#deletion-window", "30");
    await page.click("#schedule-deletion");
    await waitState("PendingDeletion");
    await page.click("a.back");
    for (const [id, state] of [[keyId, "Enabled"], [signing, "Enabled"], [mac, "Disabled"], [old, "Pending Deletion"]]) {
      await page.waitForSelector(`tr[data-key-id="${id}"]`);
      const text = await page.locator(`tr[data-key-id="${id}"]`).textContent();
      assert(text?.includes(state), `${id}: ${text}`);
    }
    const aliases = await page.locator(`tr[data-key-id="${keyId}"]`).textContent();
    assert(aliases?.includes("alias/billing") && aliases.includes("alias/payments"), `aliases: ${aliases}`);
  });

  await step("a signing key's detail says rotation does not apply", async () => {
    const row = page.locator("tr", { hasText: "Release signing" });
    await row.locator("a").click();
    await page.waitForFunction(() => /Not applicable/.test(document.getElementById("key-rotation")?.textContent ?? ""));
    const meta = await page.textContent("#key-metadata");
    assert(meta?.includes("ECDSA_SHA_256"), `metadata: ${meta}`);
    await page.click("a.back");
    await page.waitForSelector("tr[data-key-id]");
  });

  await step("a key that does not exist: its page shows AWS's NotFoundException", async () => {
    await page.goto(`${server.url}/console/#/key/00000000-0000-4000-8000-000000000000`);
    await page.waitForFunction(() => /NotFoundException/.test(document.getElementById("notice")?.textContent ?? ""));
    assert(!(await page.isVisible("#schedule-form")), "actions offered for a missing key");
    await page.click("a.back");
    await page.waitForSelector("tr[data-key-id]");
  });

  await step("screenshot of the key list saved", async () => {
    await page.evaluate(() => {
      document.getElementById("notice")?.setAttribute("hidden", "");
    });
    // Just the content: the viewport cut to the page's height.
    const height = await page.evaluate(() => Math.ceil(document.querySelector("main")?.getBoundingClientRect().bottom ?? 600));
    await page.setViewportSize({ width: 1240, height: Math.max(height + 8, 300) });
    await page.screenshot({ path: SCREENSHOT });
    await page.setViewportSize({ width: 1240, height: 760 });
  });

  await step("switching region shows that region's keys (none)", async () => {
    await page.fill("#region-switch", "eu-west-1");
    await page.click("#region-form button");
    await page.waitForSelector("#keys-empty:not([hidden])");
    assert((await page.textContent("#who-text"))?.includes("eu-west-1"), "region not shown");
    await page.fill("#region-switch", "us-east-1");
    await page.click("#region-form button");
    await page.waitForSelector(`tr[data-key-id="${keyId}"]`);
  });

  await step("a key whose alias is refused is still created, and the notice says both", async () => {
    await page.click("#create-key-open");
    await page.selectOption("#create-spec", "SYMMETRIC_DEFAULT");
    await page.fill("#create-description", "Alias refused");
    await page.fill("#create-key-alias", "alias/aws/reserved");
    await page.click("#create-key");
    await page.waitForFunction(() => /but not its alias: \w+Exception/.test(document.getElementById("notice")?.textContent ?? ""));
    const id = (await notice.textContent())?.match(/Created key ([0-9a-f-]{36})/)?.[1];
    assert(id, "no key id in the notice");
    await page.waitForSelector(`tr[data-key-id="${id}"]`);
  });

  await step("sign out forgets the credential", async () => {
    await page.click("#sign-out");
    await page.waitForSelector("#sign-in-view:not([hidden])");
    assert((await page.evaluate(() => sessionStorage.length)) === 0, "sessionStorage not cleared");
    await page.reload();
    await page.waitForSelector("#sign-in-view:not([hidden])");
  });

  await step("the secret never went over the wire; every KMS call was signed and answered", async () => {
    assert(sent.length > 20, `only ${sent.length} requests seen`);
    const leaked = sent.filter((s) => s.includes(SECRET));
    assert(leaked.length === 0, `secret in ${leaked.length} requests`);
    const refused = kmsStatuses.filter((s) => s !== 200);
    // Five refusals were asked for: wrong secret, unknown key, duplicate alias, missing key,
    // reserved alias.
    assert(refused.length === 5 && refused.every((s) => s === 400), `statuses: ${refused}`);
  });

  await step("every operation the console uses was signed by the page and accepted", async () => {
    const used = [
      "ListKeys", "ListAliases", "DescribeKey", "CreateKey", "CreateAlias", "EnableKey",
      "DisableKey", "ScheduleKeyDeletion", "CancelKeyDeletion", "ListResourceTags",
      "GetKeyRotationStatus", "ListKeyRotations", "GetKeyPolicy",
    ];
    const missing = used.filter((op) => !operations.has(`TrentService.${op}`));
    assert(missing.length === 0, `never accepted: ${missing}`);
    const lookup = "com.amazonaws.cloudtrail.v20131101.CloudTrail_20131101.LookupEvents";
    assert(operations.has(lookup), "LookupEvents (the key's recent events) never accepted");
  });

  await step("the page's signer: edge cases the verifier accepts, and tampering it refuses", async () => {
    await page.goto(`${server.url}/console/`);
    const results = await page.evaluate(
      async ({ accessKeyId, secretAccessKey }) => {
        const { amzDate, authorization } = await import("./sigv4.js");
        // Signs `headers` + body and sends them; `tamper` edits the request after signing.
        async function send(headers, bodyText, tamper = (h, b) => [h, b]) {
          const body = new TextEncoder().encode(bodyText);
          const date = amzDate(new Date());
          const signed = { ...headers, Host: location.host, "X-Amz-Date": date };
          const auth = await authorization({
            method: "POST", path: "/", headers: signed, body, region: "us-east-1",
            service: "kms", accessKeyId, secretAccessKey, amzDate: date,
          });
          const { Host: _h, ...sent } = signed;
          const [h, b] = tamper({ ...sent, Authorization: auth }, body);
          const r = await fetch("/", { method: "POST", headers: h, body: b });
          const json = await r.json().catch(() => ({}));
          return `${r.status} ${json.__type ?? "ok"}`;
        }
        const json11 = "application/x-amz-json-1.1";
        return {
          // An empty body (no JSON at all) is a valid signature over the empty string.
          emptyBody: await send({ "Content-Type": json11, "X-Amz-Target": "TrentService.ListKeys" }, ""),
          // Header names in any case, and a value with runs of spaces, canonicalise as AWS does.
          mixedCase: await send({ "CONTENT-TYPE": json11, "x-AMZ-target": "TrentService.ListAliases" }, "{}"),
          spaces: await send({ "Content-Type": json11, "X-Amz-Target": "TrentService.ListKeys", "X-Trent-Note": "a  b   c" }, '{"Limit": 5}'),
          // Non-ASCII bodies are hashed as the UTF-8 bytes sent.
          utf8: await send({ "Content-Type": json11, "X-Amz-Target": "TrentService.ListAliases" }, '{"Marker":"ünïcode ✓"}'),
          bodyChanged: await send(
            { "Content-Type": json11, "X-Amz-Target": "TrentService.ListKeys" },
            "{}",
            (h) => [h, new TextEncoder().encode('{"Limit":1}')],
          ),
          targetChanged: await send(
            { "Content-Type": json11, "X-Amz-Target": "TrentService.ListKeys" },
            "{}",
            (h, b) => [{ ...h, "X-Amz-Target": "TrentService.CreateKey" }, b],
          ),
        };
      },
      { accessKeyId: ACCESS_KEY, secretAccessKey: SECRET },
    );
    const auth = /Signature|UnrecognizedClient|MissingAuthentication/;
    for (const name of ["emptyBody", "mixedCase", "spaces", "utf8"]) {
      assert(!auth.test(results[name]), `${name}: ${results[name]}`);
    }
    assert(results.emptyBody.startsWith("200") && results.mixedCase.startsWith("200"), JSON.stringify(results));
    for (const name of ["bodyChanged", "targetChanged"]) {
      assert(results[name] === "400 InvalidSignatureException", `${name}: ${results[name]}`);
    }
  });

  await step("the page ran under its CSP with no errors", async () => {
    assert(pageErrors.length === 0, pageErrors.join("; "));
  });
} catch (e) {
  failed++;
  console.log(`not ok - setup: ${e?.message ?? e}`);
} finally {
  await browser?.close().catch(() => {});
  server?.child.kill();
  rmSync(work, { recursive: true, force: true });
}

console.log(`${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
