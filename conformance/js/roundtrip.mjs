// Drives Trent with the AWS SDK for JavaScript v3 (@aws-sdk/client-kms).
// Usage: TRENT_URL=http://127.0.0.1:PORT node roundtrip.mjs
// Prints one `PASS name` / `FAIL name: reason` line per check and `END roundtrip.mjs` at the end.

import { randomBytes, randomUUID } from "node:crypto";
import { createRequire } from "node:module";
import {
  KMSClient,
  CreateKeyCommand,
  DescribeKeyCommand,
  EncryptCommand,
  DecryptCommand,
  GenerateDataKeyCommand,
  DisableKeyCommand,
  EnableKeyCommand,
  ListKeysCommand,
  CreateAliasCommand,
  DisabledException,
  NotFoundException,
  KMSInvalidStateException,
  ScheduleKeyDeletionCommand,
  paginateListKeys,
} from "@aws-sdk/client-kms";

const url = process.env.TRENT_URL || process.argv[2];
if (!url) {
  console.error("TRENT_URL is not set");
  process.exit(2);
}

const require = createRequire(import.meta.url);
console.log(`# @aws-sdk/client-kms ${require("@aws-sdk/client-kms/package.json").version}, node ${process.version}`);

const kms = new KMSClient({
  endpoint: url,
  region: "us-east-1",
  credentials: { accessKeyId: "test", secretAccessKey: "test" },
  maxAttempts: 1,
});

let failed = 0;
const oneLine = (s) => String(s).replace(/\s+/g, " ").slice(0, 600);

async function check(name, fn) {
  try {
    await fn();
    console.log(`PASS ${name}`);
  } catch (e) {
    failed++;
    const detail = e && e.name ? `${e.name}: ${e.message}` : String(e);
    console.log(`FAIL ${name}: ${oneLine(detail)}`);
  }
}

function assert(cond, msg) {
  if (!cond) throw new Error(msg);
}

function eq(actual, expected, what) {
  if (actual !== expected) throw new Error(`${what}: expected ${JSON.stringify(expected)}, got ${JSON.stringify(actual)}`);
}

async function rejects(promise, name, ctor) {
  try {
    const out = await promise;
    throw new Error(`succeeded; expected ${name}: ${JSON.stringify(out)}`.slice(0, 400));
  } catch (err) {
    if (err.message && err.message.startsWith("succeeded; expected")) throw err;
    eq(err.name, name, `err.name (message ${JSON.stringify(err.message)})`);
    eq(err.$metadata?.httpStatusCode, 400, "err.$metadata.httpStatusCode");
    eq(err.$fault, "client", "err.$fault");
    if (ctor) assert(err instanceof ctor, `error is not an instance of ${ctor.name}`);
    return err;
  }
}

const run = randomUUID().slice(0, 8);
let key;

await check("js.create-key", async () => {
  const out = await kms.send(new CreateKeyCommand({ Description: `conformance js ${run}` }));
  key = out.KeyMetadata;
  assert(/^arn:aws:kms:us-east-1:000000000000:key\/[0-9a-f-]{36}$/.test(key.Arn), `Arn ${key.Arn}`);
  eq(key.KeyState, "Enabled", "KeyState");
  eq(key.Enabled, true, "Enabled");
  eq(key.KeySpec, "SYMMETRIC_DEFAULT", "KeySpec");
  assert(key.CreationDate instanceof Date && !isNaN(key.CreationDate), `CreationDate ${key.CreationDate}`);
  assert(Math.abs(Date.now() - key.CreationDate.getTime()) < 300_000, `CreationDate ${key.CreationDate.toISOString()} is not now`);
  assert(out.$metadata.requestId, "no $metadata.requestId");
});

if (key) {
  const plaintext = randomBytes(1000);
  let ciphertext;

  await check("js.encrypt-decrypt", async () => {
    const enc = await kms.send(new EncryptCommand({
      KeyId: key.KeyId, Plaintext: plaintext, EncryptionContext: { app: "js", run },
    }));
    eq(enc.KeyId, key.Arn, "Encrypt KeyId");
    assert(enc.CiphertextBlob instanceof Uint8Array, "CiphertextBlob is not a Uint8Array");
    ciphertext = enc.CiphertextBlob;
    const dec = await kms.send(new DecryptCommand({ CiphertextBlob: ciphertext, EncryptionContext: { run, app: "js" } }));
    assert(Buffer.from(dec.Plaintext).equals(plaintext), "decrypted bytes differ");
    eq(dec.KeyId, key.Arn, "Decrypt KeyId");
    eq(dec.EncryptionAlgorithm, "SYMMETRIC_DEFAULT", "EncryptionAlgorithm");
  });

  await check("js.describe-key", async () => {
    for (const ref of [key.KeyId, key.Arn]) {
      const md = (await kms.send(new DescribeKeyCommand({ KeyId: ref }))).KeyMetadata;
      eq(md.Arn, key.Arn, `Arn when described by ${ref}`);
      eq(md.KeyUsage, "ENCRYPT_DECRYPT", "KeyUsage");
      eq(md.Origin, "AWS_KMS", "Origin");
    }
  });

  await check("js.generate-data-key-via-alias", async () => {
    const alias = `alias/conformance-js-${run}`;
    await kms.send(new CreateAliasCommand({ AliasName: alias, TargetKeyId: key.KeyId }));
    const out = await kms.send(new GenerateDataKeyCommand({ KeyId: alias, KeySpec: "AES_256" }));
    eq(out.Plaintext.length, 32, "data key length");
    eq(out.KeyId, key.Arn, "KeyId");
    const dec = await kms.send(new DecryptCommand({ CiphertextBlob: out.CiphertextBlob }));
    assert(Buffer.from(dec.Plaintext).equals(Buffer.from(out.Plaintext)), "decrypted data key differs");
  });

  await check("js.disabled-key-error", async () => {
    await kms.send(new DisableKeyCommand({ KeyId: key.KeyId }));
    try {
      await rejects(kms.send(new EncryptCommand({ KeyId: key.KeyId, Plaintext: plaintext })), "DisabledException", DisabledException);
      await rejects(kms.send(new DecryptCommand({ CiphertextBlob: ciphertext, EncryptionContext: { app: "js", run } })),
        "DisabledException", DisabledException);
    } finally {
      await kms.send(new EnableKeyCommand({ KeyId: key.KeyId }));
    }
    const dec = await kms.send(new DecryptCommand({ CiphertextBlob: ciphertext, EncryptionContext: { app: "js", run } }));
    assert(Buffer.from(dec.Plaintext).equals(plaintext), "decrypt after re-enable");
  });

  await check("js.other-errors", async () => {
    await rejects(kms.send(new DescribeKeyCommand({ KeyId: randomUUID() })), "NotFoundException", NotFoundException);
    await rejects(kms.send(new DecryptCommand({ CiphertextBlob: ciphertext })), "InvalidCiphertextException");
    const doomed = (await kms.send(new CreateKeyCommand({ Description: `conformance js doomed ${run}` }))).KeyMetadata;
    await kms.send(new ScheduleKeyDeletionCommand({ KeyId: doomed.KeyId, PendingWindowInDays: 7 }));
    await rejects(kms.send(new EncryptCommand({ KeyId: doomed.KeyId, Plaintext: plaintext })),
      "KMSInvalidStateException", KMSInvalidStateException);
  });

  await check("js.list-keys-paginator", async () => {
    // Other clients create keys concurrently (none are deleted within a run): compare with
    // listings taken before and after, before <= paged <= after.
    const allKeys = async () => {
      const ids = new Set();
      for await (const page of paginateListKeys({ client: kms }, {})) page.Keys.forEach((k) => ids.add(k.KeyId));
      return ids;
    };
    const before = await allKeys();
    const seen = [];
    let pages = 0;
    for await (const page of paginateListKeys({ client: kms, pageSize: 2 }, {})) {
      pages++;
      assert(page.Keys.length <= 2, `page of ${page.Keys.length}`);
      seen.push(...page.Keys.map((k) => k.KeyId));
    }
    assert(seen.includes(key.KeyId), "created key not listed");
    eq(new Set(seen).size, seen.length, "distinct keys");
    const after = await allKeys();
    const paged = new Set(seen);
    const missing = [...before].filter((k) => !paged.has(k));
    const extra = seen.filter((k) => !after.has(k));
    assert(missing.length === 0 && extra.length === 0, `paged listing: missing ${missing}, extra ${extra}`);
    assert(pages >= Math.ceil(before.size / 2), `${pages} pages for at least ${before.size} keys`);
    const one = await kms.send(new ListKeysCommand({ Limit: 1 }));
    eq(one.Keys.length, 1, "ListKeys Limit=1 page size");
    eq(one.Truncated, true, "ListKeys Limit=1 Truncated");
    assert(typeof one.NextMarker === "string" && one.NextMarker.length > 0, "NextMarker");
  });
}

console.log("END roundtrip.mjs");
process.exit(failed ? 1 : 0);
