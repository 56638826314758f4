// @ts-check
/**
 * AWS Signature Version 4 for the console, on WebCrypto (HMAC-SHA256, SHA-256).
 *
 * Owns: the canonical request, the string to sign, the signing-key chain and the
 * `Authorization` header, for requests with no query string (KMS is always `POST /`).
 * Must not: send anything or keep the secret. The secret is an argument, used to derive the
 * signing key here, and never leaves the page: only the signature does.
 *
 * Also imported by conformance/console/sigv4.test.mjs, which checks it against AWS's published
 * example and against Trent's verifier.
 */

const ALGORITHM = "AWS4-HMAC-SHA256";
const encoder = new TextEncoder();

/** @param {ArrayBuffer | Uint8Array} bytes */
function hex(bytes) {
  return Array.from(new Uint8Array(bytes), (b) => b.toString(16).padStart(2, "0")).join("");
}

/** @param {Uint8Array<ArrayBuffer>} data */
export async function sha256Hex(data) {
  return hex(await crypto.subtle.digest("SHA-256", data));
}

/**
 * @param {Uint8Array<ArrayBuffer> | ArrayBuffer} key
 * @param {string} data
 * @returns {Promise<ArrayBuffer>}
 */
async function hmac(key, data) {
  const k = await crypto.subtle.importKey("raw", key, { name: "HMAC", hash: "SHA-256" }, false, [
    "sign",
  ]);
  return crypto.subtle.sign("HMAC", k, encoder.encode(data));
}

/**
 * `YYYYMMDDTHHMMSSZ`, the basic ISO 8601 form SigV4 signs.
 * @param {Date} date
 */
export function amzDate(date) {
  return date.toISOString().replace(/[-:]/g, "").replace(/\.\d{3}/, "");
}

/**
 * A header value as SigV4 canonicalises it: trimmed, runs of spaces collapsed.
 * @param {string} value
 */
function trimValue(value) {
  return value.trim().replace(/ +/g, " ");
}

/**
 * @typedef {object} SignInput
 * @property {string} method
 * @property {string} path            the request path, already as sent (`/` for KMS)
 * @property {Record<string, string>} headers  every header to sign; must include `host`
 * @property {Uint8Array<ArrayBuffer>} body        the exact bytes that will be sent
 * @property {string} region
 * @property {string} service
 * @property {string} accessKeyId
 * @property {string} secretAccessKey
 * @property {string} amzDate         `YYYYMMDDTHHMMSSZ`; must equal the `x-amz-date` header
 */

/**
 * The canonical request and string to sign (exposed for the known-answer test).
 * @param {SignInput} input
 */
export async function stringToSign(input) {
  const names = Object.keys(input.headers)
    .map((n) => n.toLowerCase())
    .sort();
  /** @type {Record<string, string>} */
  const byName = {};
  for (const [name, value] of Object.entries(input.headers)) {
    byName[name.toLowerCase()] = trimValue(value);
  }
  const signedHeaders = names.join(";");
  const canonicalRequest = [
    input.method,
    input.path,
    "", // no query string
    names.map((n) => `${n}:${byName[n]}\n`).join(""),
    signedHeaders,
    await sha256Hex(input.body),
  ].join("\n");
  const scope = `${input.amzDate.slice(0, 8)}/${input.region}/${input.service}/aws4_request`;
  const toSign = [
    ALGORITHM,
    input.amzDate,
    scope,
    await sha256Hex(encoder.encode(canonicalRequest)),
  ].join("\n");
  return { canonicalRequest, toSign, scope, signedHeaders };
}

/**
 * The `Authorization` header value for `input`.
 * @param {SignInput} input
 */
export async function authorization(input) {
  const { toSign, scope, signedHeaders } = await stringToSign(input);
  const kDate = await hmac(encoder.encode(`AWS4${input.secretAccessKey}`), input.amzDate.slice(0, 8));
  const kRegion = await hmac(kDate, input.region);
  const kService = await hmac(kRegion, input.service);
  const kSigning = await hmac(kService, "aws4_request");
  const signature = hex(await hmac(kSigning, toSign));
  return `${ALGORITHM} Credential=${input.accessKeyId}/${scope}, SignedHeaders=${signedHeaders}, Signature=${signature}`;
}
