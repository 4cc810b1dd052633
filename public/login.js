// The login page (`/login`, login.html), without the wasm app: posts the username and
// password to the login API, then goes on, by a full page load, to where the user was
// headed. The app reads its CSRF token from `GET /api/v1/me` when it starts.
// Loaded as a module (the CSP allows no inline script). The pure parts are exported
// for the tests (tests/js/login.test.mjs).

/// Where a login goes when the address names nowhere (or nowhere allowed).
export const DEFAULT_NEXT = '/active';
/// The session-storage key under which the app keeps an address with a fragment (a share
/// link's token) that a login interrupted: the fragment never goes into `next`.
export const RETURN_TO_KEY = 'vigil.return_to';

/// Where to go after logging in, from the `next` parameter: only a path of this origin,
/// never another origin (`//host`, `/\host`, `https://…`), the login page or the API.
/// Returns a path and query.
export function safeNext(next, origin) {
  if (typeof next !== 'string' || !next.startsWith('/') || next.startsWith('//') || next.startsWith('/\\')) {
    return DEFAULT_NEXT;
  }
  let url;
  try {
    url = new URL(next, origin);
  } catch {
    return DEFAULT_NEXT;
  }
  // The parser drops tabs and newlines and reads `\` as `/`: check what it made of it.
  if (url.origin !== origin || url.pathname.startsWith('/login') || url.pathname === '/api' || url.pathname.startsWith('/api/')) {
    return DEFAULT_NEXT;
  }
  return url.pathname + url.search;
}

/// `next` (already `safeNext`) or the address the app kept (`stored`, which may carry a
/// fragment), the latter only when it is the same path and query as `next`.
export function returnTo(next, stored) {
  if (typeof stored === 'string' && stored.split('#')[0] === next && stored.length > next.length) {
    return stored;
  }
  return next;
}

/// Whether `path` (a path and query, already `safeNext`) is the kiosk's (`/kiosk…`): a login
/// on its way there is a kiosk login, whose cookie dies with the browser session.
export function isKioskPath(path) {
  const pathname = typeof path === 'string' ? path.split(/[?#]/)[0] : '';
  return pathname === '/kiosk' || pathname.startsWith('/kiosk/');
}

/// What the page says when a login fails: `status` and `message` of the relay's answer
/// (`status` null: the relay could not be reached). Each ends with what to do next.
export function failureText(status, message) {
  if (status === 401) {
    return 'Incorrect username or password. Check both and try again; if it still fails, ask an administrator.';
  }
  if (status === 429) return 'Too many login attempts. Wait a few minutes, then try again.';
  const said = /[.!?]$/.test(message) ? message : message + '.';
  return 'Login failed: ' + said + ' ' + nextStep(status);
}

/// What to do after a failed login that was not refused credentials.
function nextStep(status) {
  if (status === null) return 'Check your network connection, then try again.';
  if (status >= 500) return 'Try again in a moment; if it keeps failing, tell an administrator.';
  return 'Reload the page and try again; if it keeps failing, tell an administrator.';
}

/// The message of an error answer: the body's `message` (an `ApiError`), else the status.
async function answerMessage(resp) {
  let body = '';
  try {
    body = await resp.text();
  } catch {
    // No body: the status says it.
  }
  try {
    const e = JSON.parse(body);
    if (e && typeof e.code === 'string' && typeof e.message === 'string') return e.message;
  } catch {
    // Not an ApiError.
  }
  return resp.statusText ? `HTTP ${resp.status} ${resp.statusText}` : `HTTP ${resp.status}`;
}

function takeReturnTo() {
  try {
    const kept = sessionStorage.getItem(RETURN_TO_KEY);
    sessionStorage.removeItem(RETURN_TO_KEY);
    return kept;
  } catch {
    return null;
  }
}

function nextPath() {
  return safeNext(new URLSearchParams(location.search).get('next'), location.origin);
}

function destination() {
  return returnTo(nextPath(), takeReturnTo());
}

function goOn() {
  location.replace(destination());
}

/// Prefetches the app (hashed, immutable files) once, when the user starts typing: it is
/// in the cache by the time the login succeeds.
let prefetched = false;
function prefetchApp() {
  if (prefetched) return;
  prefetched = true;
  for (const meta of document.querySelectorAll('meta[name="vigil-prefetch"]')) {
    const link = document.createElement('link');
    link.rel = 'prefetch';
    link.href = meta.content;
    document.head.append(link);
  }
}

function start() {
  const form = document.querySelector('[data-testid="login-form"]');
  const username = document.getElementById('login-username');
  const password = document.getElementById('login-password');
  const submit = document.querySelector('[data-testid="login-submit"]');
  if (!form || !username || !password || !submit) return;
  let busy = false;

  const showError = (text) => {
    let box = form.querySelector('[data-testid="login-error"]');
    if (text === null) {
      if (box) box.remove();
      return;
    }
    if (!box) {
      box = document.createElement('div');
      box.className = 'alert alert-error';
      box.setAttribute('role', 'alert');
      box.dataset.testid = 'login-error';
      form.insertBefore(box, form.querySelector('label'));
    }
    box.textContent = text;
  };
  const setBusy = (on) => {
    busy = on;
    submit.disabled = on;
    submit.textContent = on ? 'Logging in…' : 'Log in';
  };

  form.addEventListener('input', prefetchApp);
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    if (busy) return;
    const user = username.value.trim();
    const pass = password.value;
    if (!user || !pass) {
      showError('Enter your username and password.');
      return;
    }
    setBusy(true);
    showError(null);
    let resp;
    try {
      resp = await fetch('/api/v1/auth/login', {
        method: 'POST',
        credentials: 'same-origin',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({ username: user, password: pass, kiosk: isKioskPath(nextPath()) }),
      });
    } catch (err) {
      setBusy(false);
      showError(failureText(null, `Cannot reach the relay (${err && err.message ? err.message : err}).`));
      return;
    }
    if (!resp.ok) {
      const message = await answerMessage(resp);
      setBusy(false);
      showError(failureText(resp.status, message));
      return;
    }
    password.value = '';
    goOn();
  });
  setBusy(false);
  form.dataset.ready = 'true';

  // Still logged in (the session cookie is good): go straight on.
  fetch('/api/v1/me', { credentials: 'same-origin' })
    .then((resp) => {
      if (resp.ok && !busy) goOn();
    })
    .catch(() => {});
}

if (typeof document !== 'undefined') start();
