// @ts-check
/**
 * The console's pages: sign-in, the key list of an account and region, and a key's detail with
 * its actions. Everything shown comes from KMS API calls of the signed-in principal (kms.js);
 * the page adds no permission of its own. Text from the server is only ever set as text
 * (`textContent`), never parsed as HTML.
 */

import * as kms from "./kms.js";

/** Which usages each key spec allows (AWS's table), first the default. */
const SPECS = {
  SYMMETRIC_DEFAULT: ["ENCRYPT_DECRYPT"],
  RSA_2048: ["ENCRYPT_DECRYPT", "SIGN_VERIFY"],
  RSA_3072: ["ENCRYPT_DECRYPT", "SIGN_VERIFY"],
  RSA_4096: ["ENCRYPT_DECRYPT", "SIGN_VERIFY"],
  ECC_NIST_P256: ["SIGN_VERIFY", "KEY_AGREEMENT"],
  ECC_NIST_P384: ["SIGN_VERIFY", "KEY_AGREEMENT"],
  ECC_NIST_P521: ["SIGN_VERIFY", "KEY_AGREEMENT"],
  ECC_SECG_P256K1: ["SIGN_VERIFY"],
  ECC_NIST_EDWARDS25519: ["SIGN_VERIFY"],
  ML_DSA_44: ["SIGN_VERIFY"],
  ML_DSA_65: ["SIGN_VERIFY"],
  ML_DSA_87: ["SIGN_VERIFY"],
  ML_KEM_512: ["ENCAPSULATE_DECAPSULATE"],
  ML_KEM_768: ["ENCAPSULATE_DECAPSULATE"],
  ML_KEM_1024: ["ENCAPSULATE_DECAPSULATE"],
  HMAC_224: ["GENERATE_VERIFY_MAC"],
  HMAC_256: ["GENERATE_VERIFY_MAC"],
  HMAC_384: ["GENERATE_VERIFY_MAC"],
  HMAC_512: ["GENERATE_VERIFY_MAC"],
};

/** Parallel DescribeKey calls while listing. */
const DESCRIBE_CONCURRENCY = 4;

// ---------------------------------------------------------------------------------------------
// Small DOM helpers

/**
 * @template {HTMLElement} T
 * @param {string} id
 * @returns {T}
 */
function $(id) {
  const el = document.getElementById(id);
  if (!el) throw new Error(`missing #${id}`);
  return /** @type {T} */ (el);
}

/**
 * Creates an element; string children become text nodes.
 * @param {string} tag
 * @param {Record<string, string>} [attrs]
 * @param {...(Node | string | null | undefined)} children
 */
function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) el.setAttribute(name, value);
  for (const child of children) if (child != null) el.append(child);
  return el;
}

/**
 * @param {HTMLElement} el
 * @param {...(Node | string | null | undefined)} children
 */
function fill(el, ...children) {
  el.replaceChildren(...children.filter((c) => c != null));
}

/** @param {unknown} e */
function describeError(e) {
  if (e instanceof kms.KmsError) return `${e.code}: ${e.message}`;
  return e instanceof Error ? e.message : String(e);
}

/** @param {string} text @param {"error" | "ok"} [kind] */
function notify(text, kind = "error") {
  const notice = $("notice");
  notice.textContent = text;
  notice.className = `notice ${kind}`;
  notice.hidden = false;
}

function clearNotice() {
  const notice = $("notice");
  notice.hidden = true;
  notice.className = "notice";
  notice.textContent = "";
}

/** @param {number | undefined} epochSeconds */
function formatDate(epochSeconds) {
  if (epochSeconds == null) return "—";
  const iso = new Date(epochSeconds * 1000).toISOString();
  return `${iso.slice(0, 10)} ${iso.slice(11, 16)} UTC`;
}

/** @param {string} state */
function stateBadge(state) {
  return h("span", { class: `state state-${state}` }, state.replace(/([a-z])([A-Z])/g, "$1 $2"));
}

/**
 * Runs an action with its button disabled, reporting its error.
 * @param {HTMLButtonElement} button
 * @param {() => Promise<void>} action
 */
async function busy(button, action) {
  button.disabled = true;
  clearNotice();
  try {
    await action();
  } catch (e) {
    notify(describeError(e));
  } finally {
    button.disabled = false;
  }
}

/** Counts key pages rendered, so an answer for a page left meanwhile is dropped. */
let rendering = 0;

/**
 * A section's content, or the error that kept it from loading (e.g. AccessDeniedException).
 * @param {HTMLElement} el
 * @param {() => Promise<Node>} load
 */
async function section(el, load) {
  const mine = rendering;
  fill(el, h("p", { class: "muted" }, "Loading…"));
  /** @type {Node} */
  let content;
  try {
    content = await load();
  } catch (e) {
    content = h("p", { class: "muted" }, describeError(e));
  }
  if (mine === rendering) fill(el, content);
}

// ---------------------------------------------------------------------------------------------
// Views

/** @param {"sign-in" | "keys" | "key"} name */
function show(name) {
  for (const view of ["sign-in", "keys", "key"]) $(`${view}-view`).hidden = view !== name;
  const cred = kms.credential();
  $("who").hidden = !cred;
  if (cred) $("who-text").textContent = `${cred.accessKeyId} · ${cred.region}`;
}

async function route() {
  if (!kms.credential()) {
    show("sign-in");
    return;
  }
  const match = location.hash.match(/^#\/key\/(.+)$/);
  if (match) await showKey(decodeURIComponent(match[1]));
  else await showKeys();
}

/** A key's aliases, by target key id. */
async function aliasesByKey() {
  /** @type {Map<string, string[]>} */
  const byKey = new Map();
  for (const a of await kms.listAll("ListAliases", "Aliases")) {
    if (!a.TargetKeyId) continue;
    byKey.set(a.TargetKeyId, [...(byKey.get(a.TargetKeyId) ?? []), a.AliasName]);
  }
  for (const names of byKey.values()) names.sort();
  return byKey;
}

/**
 * DescribeKey for every key, a few at a time.
 * @param {{KeyId: string}[]} keys
 */
async function describeAll(keys) {
  /** @type {any[]} */
  const out = new Array(keys.length);
  let next = 0;
  async function worker() {
    while (next < keys.length) {
      const i = next++;
      try {
        out[i] = (await kms.call("DescribeKey", { KeyId: keys[i].KeyId })).KeyMetadata;
      } catch (e) {
        // Deleted since ListKeys answered: it is simply gone.
        if (!(e instanceof kms.KmsError && e.code === "NotFoundException")) throw e;
      }
    }
  }
  await Promise.all(Array.from({ length: DESCRIBE_CONCURRENCY }, worker));
  return out.filter(Boolean);
}

async function showKeys() {
  show("keys");
  const cred = kms.credential();
  $("keys-scope").textContent = `Region ${cred?.region}`;
  /** @type {HTMLInputElement} */ ($("region-switch")).value = cred?.region ?? "";
  const body = $("keys-body");
  try {
    const [keys, aliases] = await Promise.all([kms.listAll("ListKeys", "Keys"), aliasesByKey()]);
    const metadata = await describeAll(keys);
    metadata.sort((a, b) => b.CreationDate - a.CreationDate || a.KeyId.localeCompare(b.KeyId));
    const account = metadata[0]?.AWSAccountId;
    if (account) $("keys-scope").textContent = `Account ${account} · region ${cred?.region}`;
    fill(body, ...metadata.map((m) => keyRow(m, aliases.get(m.KeyId) ?? [])));
    $("keys-empty").hidden = metadata.length > 0;
  } catch (e) {
    fill(body);
    $("keys-empty").hidden = true;
    notify(describeError(e));
  }
}

/**
 * @param {any} m  KeyMetadata
 * @param {string[]} aliases
 */
function keyRow(m, aliases) {
  const [first, ...more] = aliases;
  const link = h("a", { href: `#/key/${encodeURIComponent(m.KeyId)}`, class: first ? "name" : "name mono" }, first ?? m.KeyId);
  return h(
    "tr",
    { "data-key-id": m.KeyId },
    h(
      "td",
      {},
      link,
      first ? h("div", { class: "sub mono" }, m.KeyId) : null,
      ...more.map((a) => h("div", { class: "sub" }, a)),
    ),
    h("td", { class: "description" }, m.Description || ""),
    h("td", {}, m.KeySpec, h("div", { class: "sub" }, m.KeyUsage)),
    h(
      "td",
      {},
      stateBadge(m.KeyState),
      m.DeletionDate ? h("div", { class: "sub nowrap" }, `on ${formatDate(m.DeletionDate).slice(0, 10)}`) : null,
    ),
    h("td", { class: "nowrap" }, formatDate(m.CreationDate)),
  );
}

/** The key shown on the detail page. */
let shownKey = "";

/** @param {string} keyId */
async function showKey(keyId) {
  show("key");
  shownKey = keyId;
  const mine = ++rendering;
  // Nothing of the key shown before stays on screen while this one loads (or fails to).
  $("key-title").textContent = keyId;
  $("key-subtitle").textContent = "";
  fill($("key-state"));
  for (const id of ["toggle-row", "schedule-form", "pending-row"]) $(id).hidden = true;
  for (const id of ["key-metadata", "key-aliases", "key-tags", "key-rotation", "key-materials", "key-policy", "key-events"]) fill($(id));
  let m;
  try {
    m = (await kms.call("DescribeKey", { KeyId: keyId })).KeyMetadata;
  } catch (e) {
    if (mine === rendering) notify(describeError(e));
    return;
  }
  const aliases = (await kms.listAll("ListAliases", "Aliases", { KeyId: m.KeyId }).catch(() => []))
    .map((a) => a.AliasName)
    .sort();
  if (mine !== rendering) return;
  $("key-title").textContent = aliases[0] ?? m.KeyId;
  $("key-subtitle").textContent = m.Arn;
  fill($("key-state"), stateBadge(m.KeyState));
  $("key-state").dataset.state = m.KeyState;
  actions(m);
  metadataList(m);
  fill(
    $("key-aliases"),
    aliases.length
      ? h("ul", { class: "plain" }, ...aliases.map((a) => h("li", { class: "mono" }, a)))
      : h("p", { class: "muted" }, "No aliases."),
  );
  await Promise.all([
    section($("key-tags"), () => tags(m.KeyId)),
    section($("key-rotation"), () => rotation(m)),
    section($("key-materials"), () => materials(m)),
    section($("key-policy"), () => policy(m.KeyId)),
    section($("key-events"), () => events(m.Arn)),
  ]);
}

/** @param {any} m  KeyMetadata */
function actions(m) {
  const state = m.KeyState;
  $("enable-key").hidden = state !== "Disabled";
  $("disable-key").hidden = state !== "Enabled";
  /** @type {Record<string, string>} */
  const explain = {
    Enabled: "The key can be used.",
    Disabled: "The key is disabled: cryptographic operations refuse it.",
    PendingImport: "The key waits for imported key material.",
  };
  $("toggle-text").textContent = explain[state] ?? "";
  $("toggle-row").hidden = !explain[state];
  $("schedule-form").hidden = state === "PendingDeletion";
  $("pending-row").hidden = state !== "PendingDeletion";
  $("pending-text").textContent =
    state === "PendingDeletion" ? `Deletion scheduled for ${formatDate(m.DeletionDate)}.` : "";
}

/** @param {any} m  KeyMetadata */
function metadataList(m) {
  /** @type {[string, string | undefined][]} */
  const rows = [
    ["Key ID", m.KeyId],
    ["ARN", m.Arn],
    ["State", m.KeyState],
    ["Description", m.Description || "—"],
    ["Key spec", m.KeySpec],
    ["Key usage", m.KeyUsage],
    ["Origin", m.Origin],
    ["Key manager", m.KeyManager],
    ["Created", formatDate(m.CreationDate)],
    ["Deletion date", m.DeletionDate ? formatDate(m.DeletionDate) : undefined],
    ["Expiration model", m.ExpirationModel],
    ["Material valid to", m.ValidTo ? formatDate(m.ValidTo) : undefined],
    ["Current key material", m.CurrentKeyMaterialId],
    ["Encryption algorithms", m.EncryptionAlgorithms?.join(", ")],
    ["Signing algorithms", m.SigningAlgorithms?.join(", ")],
    ["MAC algorithms", m.MacAlgorithms?.join(", ")],
    ["Key agreement algorithms", m.KeyAgreementAlgorithms?.join(", ")],
    ["Encapsulation algorithms", m.EncapsulationAlgorithms?.join(", ")],
  ];
  fill(
    $("key-metadata"),
    ...rows
      .filter(([, value]) => value != null && value !== "")
      .flatMap(([name, value]) => [h("dt", {}, name), h("dd", {}, value)]),
  );
}

/** @param {string} keyId */
async function tags(keyId) {
  const list = await kms.listAll("ListResourceTags", "Tags", { KeyId: keyId });
  if (!list.length) return h("p", { class: "muted" }, "No tags.");
  return h(
    "table",
    { class: "small" },
    h("thead", {}, h("tr", {}, h("th", {}, "Key"), h("th", {}, "Value"))),
    h("tbody", {}, ...list.map((t) => h("tr", {}, h("td", {}, t.TagKey), h("td", {}, t.TagValue)))),
  );
}

/** Rotation applies to symmetric keys only; others say so rather than show an error. */
const SYMMETRIC = "SYMMETRIC_DEFAULT";

/** @param {any} m  KeyMetadata */
async function rotation(m) {
  if (m.KeySpec !== SYMMETRIC) return h("p", { class: "muted" }, "Not applicable to this key spec.");
  const r = await kms.call("GetKeyRotationStatus", { KeyId: m.KeyId });
  const rows = [
    ["Automatic rotation", r.KeyRotationEnabled ? "Enabled" : "Disabled"],
    ["Rotation period", r.RotationPeriodInDays ? `${r.RotationPeriodInDays} days` : undefined],
    ["Next rotation", r.NextRotationDate ? formatDate(r.NextRotationDate) : undefined],
    ["On-demand rotation", r.OnDemandRotationStartDate ? `since ${formatDate(r.OnDemandRotationStartDate)}` : undefined],
  ];
  return h(
    "dl",
    { class: "meta" },
    ...rows.filter(([, v]) => v).flatMap(([k, v]) => [h("dt", {}, k), h("dd", {}, v)]),
  );
}

/** @param {any} m  KeyMetadata */
async function materials(m) {
  if (m.KeySpec !== SYMMETRIC) {
    return h("p", { class: "muted" }, "One key material, created with the key (key material rotation is for symmetric keys).");
  }
  const list = await kms.listAll("ListKeyRotations", "Rotations", {
    KeyId: m.KeyId,
    IncludeKeyMaterial: "ALL_KEY_MATERIAL",
  });
  if (!list.length) {
    return h("p", { class: "muted" }, m.Origin === "EXTERNAL" ? "No key material imported yet." : "The original key material only; the key has not been rotated.");
  }
  return h(
    "table",
    { class: "small" },
    h("thead", {}, h("tr", {}, h("th", {}, "Key material ID"), h("th", {}, "State"), h("th", {}, "Rotated"), h("th", {}, "Type"))),
    h(
      "tbody",
      {},
      ...list.map((r) =>
        h(
          "tr",
          {},
          h("td", { class: "mono" }, r.KeyMaterialId ?? "—"),
          h("td", {}, [r.KeyMaterialState, r.ImportState].filter(Boolean).join(", ") || "—"),
          h("td", { class: "nowrap" }, r.RotationDate ? formatDate(r.RotationDate) : "—"),
          h("td", {}, r.RotationType ?? "—"),
        ),
      ),
    ),
  );
}

/**
 * The key's recent audit events (newest first), from the trail.
 * @param {string} arn
 */
async function events(arn) {
  const list = await kms.recentEvents(arn);
  if (!list.length) return h("p", { class: "muted" }, "No recorded events (or the audit trail is off).");
  return h(
    "table",
    { class: "small", id: "key-events-table" },
    h("thead", {}, h("tr", {}, h("th", {}, "Time"), h("th", {}, "Event"), h("th", {}, "Who"), h("th", {}, "Outcome"))),
    h(
      "tbody",
      {},
      ...list.map((e) => {
        /** @type {any} */
        let record = {};
        try {
          record = JSON.parse(e.CloudTrailEvent ?? "{}");
        } catch {
          // Shown with what the summary has.
        }
        return h(
          "tr",
          {},
          h("td", { class: "nowrap" }, e.EventTime ? formatDate(e.EventTime) : "—"),
          h("td", { class: "mono" }, e.EventName ?? "—"),
          h("td", { class: "mono" }, e.Username ?? record.userIdentity?.arn ?? "—"),
          h("td", {}, record.errorCode ?? "ok"),
        );
      }),
    ),
  );
}

/** @param {string} keyId */
async function policy(keyId) {
  const { Policy } = await kms.call("GetKeyPolicy", { KeyId: keyId, PolicyName: "default" });
  let text = Policy ?? "";
  try {
    text = JSON.stringify(JSON.parse(text), null, 2);
  } catch {
    // Shown as stored.
  }
  return h("pre", { class: "policy" }, text);
}

// ---------------------------------------------------------------------------------------------
// Wiring

function fillUsages() {
  const spec = /** @type {HTMLSelectElement} */ ($("create-spec")).value;
  const usage = /** @type {HTMLSelectElement} */ ($("create-usage"));
  fill(usage, ...(SPECS[/** @type {keyof SPECS} */ (spec)] ?? []).map((u) => h("option", { value: u }, u)));
}

function wire() {
  fill($("create-spec"), ...Object.keys(SPECS).map((s) => h("option", { value: s }, s)));
  fillUsages();
  $("create-spec").addEventListener("change", fillUsages);

  $("sign-in-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const button = /** @type {HTMLButtonElement} */ ($("sign-in"));
    const secret = /** @type {HTMLInputElement} */ ($("secret-access-key"));
    const cred = {
      accessKeyId: /** @type {HTMLInputElement} */ ($("access-key-id")).value.trim(),
      secretAccessKey: secret.value,
      region: /** @type {HTMLInputElement} */ ($("region")).value.trim(),
    };
    await busy(button, async () => {
      // Proves the credential with a signed request; only the server's refusal of the
      // signature itself stops the sign-in (a principal may be allowed no ListKeys).
      try {
        await kms.call("ListKeys", { Limit: 1 }, cred);
      } catch (e) {
        if (!(e instanceof kms.KmsError) || e.isAuthentication || e.status === 0) throw e;
      }
      kms.signIn(cred, /** @type {HTMLInputElement} */ ($("remember")).checked);
      secret.value = "";
      location.hash = "#/";
      await route();
    });
  });

  $("sign-out").addEventListener("click", () => {
    kms.signOut();
    clearNotice();
    location.hash = "#/";
    show("sign-in");
  });

  $("region-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const region = /** @type {HTMLInputElement} */ ($("region-switch")).value.trim();
    if (!region) return;
    kms.switchRegion(region);
    clearNotice();
    await showKeys();
  });

  $("refresh").addEventListener("click", () => busy(/** @type {HTMLButtonElement} */ ($("refresh")), showKeys));

  $("create-key-open").addEventListener("click", () => {
    $("create-key-form").hidden = false;
    $("create-description").focus();
  });
  $("create-key-cancel").addEventListener("click", () => {
    $("create-key-form").hidden = true;
  });
  $("create-key-form").addEventListener("submit", (event) => {
    event.preventDefault();
    busy(/** @type {HTMLButtonElement} */ ($("create-key")), async () => {
      /** @type {Record<string, string>} */
      const input = {
        KeySpec: /** @type {HTMLSelectElement} */ ($("create-spec")).value,
        KeyUsage: /** @type {HTMLSelectElement} */ ($("create-usage")).value,
      };
      const description = /** @type {HTMLInputElement} */ ($("create-description")).value;
      if (description) input.Description = description;
      const { KeyMetadata } = await kms.call("CreateKey", input);
      const alias = /** @type {HTMLInputElement} */ ($("create-key-alias")).value.trim();
      // The key exists whatever happens to its alias: say so, with the alias's error if any.
      let aliasError = "";
      if (alias) {
        await kms
          .call("CreateAlias", { AliasName: alias, TargetKeyId: KeyMetadata.KeyId })
          .catch((e) => (aliasError = describeError(e)));
      }
      /** @type {HTMLFormElement} */ ($("create-key-form")).reset();
      fillUsages();
      $("create-key-form").hidden = true;
      if (aliasError) notify(`Created key ${KeyMetadata.KeyId}, but not its alias: ${aliasError}`);
      else notify(`Created key ${KeyMetadata.KeyId}.`, "ok");
      await showKeys();
    });
  });

  /**
   * A key action, then the page again with the new state.
   * @param {string} id  the button
   * @param {string} operation
   * @param {() => object} input
   * @param {string} done  what to tell the user afterwards
   * @param {() => void} [succeeded]  runs as soon as the server has accepted the action
   */
  function keyAction(id, operation, input, done, succeeded) {
    const button = /** @type {HTMLButtonElement} */ ($(id));
    return () =>
      busy(button, async () => {
        await kms.call(operation, input());
        succeeded?.();
        await showKey(shownKey);
        notify(done, "ok");
      });
  }
  const byKey = () => ({ KeyId: shownKey });
  $("enable-key").addEventListener("click", keyAction("enable-key", "EnableKey", byKey, "Key enabled."));
  $("disable-key").addEventListener("click", keyAction("disable-key", "DisableKey", byKey, "Key disabled."));
  $("cancel-deletion").addEventListener(
    "click",
    keyAction("cancel-deletion", "CancelKeyDeletion", byKey, "Deletion cancelled. The key stays disabled until you enable it."),
  );
  const schedule = keyAction(
    "schedule-deletion",
    "ScheduleKeyDeletion",
    () => ({
      KeyId: shownKey,
      PendingWindowInDays: Number(/** @type {HTMLInputElement} */ ($("deletion-window")).value),
    }),
    "Deletion scheduled.",
  );
  $("schedule-form").addEventListener("submit", (event) => {
    event.preventDefault();
    schedule();
  });
  const aliasName = /** @type {HTMLInputElement} */ ($("alias-name"));
  const createAlias = keyAction(
    "create-alias",
    "CreateAlias",
    () => ({ AliasName: aliasName.value.trim(), TargetKeyId: shownKey }),
    "Alias created.",
    () => {
      aliasName.value = "alias/";
    },
  );
  $("alias-form").addEventListener("submit", (event) => {
    event.preventDefault();
    createAlias();
  });

  window.addEventListener("hashchange", () => {
    clearNotice();
    route();
  });
}

wire();
if (globalThis.crypto?.subtle) {
  kms.restore();
  route();
} else {
  // Browsers offer WebCrypto only to secure contexts; without it nothing can be signed.
  show("sign-in");
  notify("This page cannot sign requests here: browsers offer WebCrypto only over HTTPS or on localhost/127.0.0.1. Open the console through one of those.");
  /** @type {HTMLButtonElement} */ ($("sign-in")).disabled = true;
}
