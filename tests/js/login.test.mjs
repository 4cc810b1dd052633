// Unit tests of the login page's pure parts (public/login.js): where a login may go on
// to, and what it says when it fails. Run with `node --test tests/js/`.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';

// login.js is a browser module (a `.js` file outside any package): load its text as one.
const source = await readFile(new URL('../../public/login.js', import.meta.url), 'utf8');
const login = await import('data:text/javascript,' + encodeURIComponent(source));
const ORIGIN = 'https://vigil.example';

test('next is a path of this origin, or the start page', () => {
  const { safeNext } = login;
  assert.equal(safeNext('/sessions/abc', ORIGIN), '/sessions/abc');
  assert.equal(safeNext('/replay/x?y=1', ORIGIN), '/replay/x?y=1');
  assert.equal(safeNext('/share?id=7#token', ORIGIN), '/share?id=7', 'no fragment in next');
  for (const bad of [
    null,
    undefined,
    '',
    'active',
    'evil.example',
    '//evil.example',
    '//evil.example/active',
    '/\\evil.example',
    '/\t/evil.example',
    '/\n/evil.example',
    '\t//evil.example',
    'https://evil.example/active',
    'javascript:alert(1)',
    '/login',
    '/login?next=/x',
    '/api',
    '/api/v1/me',
  ]) {
    assert.equal(safeNext(bad, ORIGIN), '/active', JSON.stringify(bad));
  }
});

test('the address kept before the login comes back only for its own path', () => {
  const { returnTo } = login;
  assert.equal(returnTo('/share', '/share#tok'), '/share#tok');
  assert.equal(returnTo('/share?id=1', '/share?id=1#tok'), '/share?id=1#tok');
  assert.equal(returnTo('/share', null), '/share');
  assert.equal(returnTo('/active', '/share#tok'), '/active');
  assert.equal(returnTo('/share', '/share'), '/share');
});

test('a failed login says what the app said', () => {
  const { failureText } = login;
  assert.equal(
    failureText(401, 'bad credentials'),
    'Incorrect username or password. Check both and try again; if it still fails, ask an administrator.',
  );
  assert.equal(
    failureText(429, 'too many attempts'),
    'Too many login attempts. Wait a few minutes, then try again.',
  );
  assert.equal(
    failureText(503, 'too many logins in progress; try again shortly'),
    'Login failed: too many logins in progress; try again shortly. Try again in a moment; if it keeps failing, tell an administrator.',
  );
  assert.equal(
    failureText(null, 'Cannot reach the relay (Failed to fetch).'),
    'Login failed: Cannot reach the relay (Failed to fetch). Check your network connection, then try again.',
  );
});

test('a login on its way to the kiosk is a kiosk login', () => {
  const { isKioskPath, safeNext } = login;
  assert.equal(isKioskPath('/kiosk'), true);
  assert.equal(isKioskPath('/kiosk/sessions/abc'), true);
  assert.equal(isKioskPath('/kiosk?x=1'), true);
  assert.equal(isKioskPath(safeNext('/kiosk', ORIGIN)), true);
  assert.equal(isKioskPath('/kiosks'), false);
  assert.equal(isKioskPath('/active'), false);
  assert.equal(isKioskPath('/sessions/kiosk'), false);
  assert.equal(isKioskPath(null), false);
});
