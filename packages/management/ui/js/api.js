/* global fetch, sessionStorage, btoa, TextEncoder */
// The management API client: Basic credentials live in sessionStorage (gone when the tab closes).

const KEY = 'junction-auth';

export class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

let onUnauthorized = () => {};
/** Called whenever the API answers 401 (wrong or expired credentials). */
export function setUnauthorizedHandler(fn) {
  onUnauthorized = fn;
}

export const session = {
  get auth() {
    return sessionStorage.getItem(KEY);
  },
  set auth(v) {
    if (v) sessionStorage.setItem(KEY, v);
    else sessionStorage.removeItem(KEY);
  },
  /** {name, tags} of the logged-in user. */
  user: null,
};

/** base64 of user:password, UTF-8 safe. */
export function basic(username, password) {
  const bytes = new TextEncoder().encode(`${username}:${password}`);
  return btoa(String.fromCharCode(...bytes));
}

async function request(auth, method, path, body) {
  // X-Requested-With: the server then answers 401 without a Basic challenge (no browser pop-up).
  const headers = { 'x-requested-with': 'XMLHttpRequest' };
  if (auth) headers.authorization = `Basic ${auth}`;
  if (body !== undefined) headers['content-type'] = 'application/json';
  const r = await fetch(path, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
    cache: 'no-store',
  });
  const text = await r.text();
  let json;
  try {
    json = text ? JSON.parse(text) : undefined;
  } catch {
    json = undefined;
  }
  if (!r.ok) throw new ApiError(r.status, json?.reason ?? `HTTP ${r.status} ${r.statusText}`);
  return json;
}

/** Calls the API with the session's credentials; a 401 logs the session out. */
export async function api(method, path, body) {
  try {
    return await request(session.auth, method, path, body);
  } catch (err) {
    if (err instanceof ApiError && err.status === 401) onUnauthorized(err.message);
    throw err;
  }
}

/** Checks credentials with /api/whoami and keeps them on success. */
export async function login(username, password) {
  const auth = basic(username, password);
  const me = await request(auth, 'GET', '/api/whoami');
  session.auth = auth;
  session.user = me;
  return me;
}

export async function resume() {
  if (!session.auth) return null;
  const me = await request(session.auth, 'GET', '/api/whoami');
  session.user = me;
  return me;
}

export function logout() {
  session.auth = null;
  session.user = null;
}

export const enc = encodeURIComponent;
/** The URL segment of an exchange name ('' is the default exchange). */
export const exName = (name) => enc(name === '' ? 'amq.default' : name);
export const isAdmin = () => session.user?.tags.includes('administrator') ?? false;
