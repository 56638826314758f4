// @ts-check
/**
 * A KMS client for the console: every call is an ordinary AWS JSON 1.1 request to `POST /`,
 * signed with SigV4 by the signed-in principal, exactly as an SDK would send it. Trent's access
 * control sees nothing else.
 *
 * Owns: the credential of the session and the request/response shapes. The secret lives in
 * this module's memory (and in sessionStorage only when the user asks for it; see `remember`).
 */

import { amzDate, authorization } from "./sigv4.js";

const SERVICE = "kms";
const STORAGE_KEY = "trent-console-credential";

/**
 * @typedef {object} Credential
 * @property {string} accessKeyId
 * @property {string} secretAccessKey
 * @property {string} region
 */

/** An error answered by the server, in AWS's shape (`__type`, `message`). */
export class KmsError extends Error {
  /**
   * @param {string} code
   * @param {string} message
   * @param {number} status
   */
  constructor(code, message, status) {
    super(message);
    this.code = code;
    this.status = status;
  }

  /** Whether the server refused the credential itself (as opposed to the operation). */
  get isAuthentication() {
    return [
      "UnrecognizedClientException",
      "InvalidSignatureException",
      "IncompleteSignatureException",
      "MissingAuthenticationTokenException",
    ].includes(this.code);
  }
}

/** @type {Credential | null} */
let current = null;

/** The signed-in credential, if any. */
export function credential() {
  return current;
}

/**
 * Signs in for this page. With `remember`, the credential is also put in sessionStorage, which
 * the browser keeps for this tab only and drops when the tab closes.
 * @param {Credential} cred
 * @param {boolean} remember
 */
export function signIn(cred, remember) {
  current = cred;
  if (remember) sessionStorage.setItem(STORAGE_KEY, JSON.stringify(cred));
  else sessionStorage.removeItem(STORAGE_KEY);
}

/**
 * Keys live per account and region: the same credential, another region.
 * @param {string} region
 */
export function switchRegion(region) {
  if (!current) return;
  current = { ...current, region };
  if (sessionStorage.getItem(STORAGE_KEY)) sessionStorage.setItem(STORAGE_KEY, JSON.stringify(current));
}

export function signOut() {
  current = null;
  sessionStorage.removeItem(STORAGE_KEY);
}

/** Restores a credential remembered in this tab, if there is one. */
export function restore() {
  try {
    const saved = JSON.parse(sessionStorage.getItem(STORAGE_KEY) ?? "null");
    if (saved && saved.accessKeyId && saved.secretAccessKey && saved.region) current = saved;
  } catch {
    sessionStorage.removeItem(STORAGE_KEY);
  }
  return current;
}

/**
 * Calls one KMS operation as the signed-in principal.
 * @param {string} operation  e.g. "ListKeys"
 * @param {object} [input]    the request members
 * @param {Credential} [cred] defaults to the signed-in credential
 * @returns {Promise<any>}
 */
export async function call(operation, input = {}, cred = current ?? undefined) {
  return send(SERVICE, `TrentService.${operation}`, input, cred);
}

/** CloudTrail's LookupEvents target, served on the same endpoint. */
const LOOKUP_EVENTS = "com.amazonaws.cloudtrail.v20131101.CloudTrail_20131101.LookupEvents";

/**
 * The most recent audit events naming a key (CloudTrail's LookupEvents by ResourceName), as the
 * signed-in principal: it needs `cloudtrail:LookupEvents`, which account roots always have.
 * @param {string} keyArn
 * @param {number} [max]
 * @returns {Promise<any[]>}
 */
export async function recentEvents(keyArn, max = 20) {
  const answer = await send(
    "cloudtrail",
    LOOKUP_EVENTS,
    { LookupAttributes: [{ AttributeKey: "ResourceName", AttributeValue: keyArn }], MaxResults: max },
    current ?? undefined,
  );
  return answer.Events ?? [];
}

/**
 * One signed AWS JSON 1.1 request.
 * @param {string} service  SigV4 service name ("kms", "cloudtrail")
 * @param {string} target   the X-Amz-Target value
 * @param {object} input
 * @param {Credential} [cred]
 * @returns {Promise<any>}
 */
async function send(service, target, input, cred) {
  if (!cred) throw new KmsError("NotSignedIn", "Sign in first.", 0);
  const body = new TextEncoder().encode(JSON.stringify(input));
  const date = amzDate(new Date());
  /** @type {Record<string, string>} */
  const headers = {
    "content-type": "application/x-amz-json-1.1",
    // The browser sends this Host itself (it may not be set by script); it is signed so the
    // signature is good only for this server, as AWS requires.
    host: location.host,
    "x-amz-date": date,
    "x-amz-target": target,
  };
  const auth = await authorization({
    method: "POST",
    path: "/",
    headers,
    body,
    region: cred.region,
    service,
    accessKeyId: cred.accessKeyId,
    secretAccessKey: cred.secretAccessKey,
    amzDate: date,
  });
  const { host: _host, ...sent } = headers;
  const response = await fetch("/", {
    method: "POST",
    headers: { ...sent, authorization: auth },
    body,
    credentials: "omit",
    cache: "no-store",
  });
  const text = await response.text();
  /** @type {any} */
  let json = {};
  try {
    json = text ? JSON.parse(text) : {};
  } catch {
    throw new KmsError("InvalidResponse", `The server answered ${response.status} without JSON.`, response.status);
  }
  if (!response.ok) {
    const type = String(json.__type ?? "UnknownError");
    // AWS's __type may carry a namespace prefix ("com.amazonaws.kms#..."): show the code.
    const code = type.slice(type.lastIndexOf("#") + 1);
    throw new KmsError(code, String(json.message ?? json.Message ?? ""), response.status);
  }
  return json;
}

/**
 * Every page of a paginated list operation.
 * @param {string} operation
 * @param {string} member   the list member of the answer, e.g. "Keys"
 * @param {object} [input]
 * @returns {Promise<any[]>}
 */
export async function listAll(operation, member, input = {}) {
  /** @type {any[]} */
  const items = [];
  /** @type {string | undefined} */
  let marker;
  do {
    const page = await call(operation, marker ? { ...input, Marker: marker } : input);
    items.push(...(page[member] ?? []));
    marker = page.Truncated ? page.NextMarker : undefined;
  } while (marker);
  return items;
}
