// Unit tests of the app's start check (public/boot.js): which features a browser lacks,
// and what the page then says. Run with `node --test tests/js/`.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';

// boot.js is a browser module; outside a page (no `document`) it only exports.
const source = await readFile(new URL('../../public/boot.js', import.meta.url), 'utf8');
const boot = await import('data:text/javascript,' + encodeURIComponent(source));

/// A window with everything the app needs; `Worker` reads its options as browsers do.
function modern() {
  class Worker {
    constructor(url, options) {
      void (options && options.type);
      throw new SyntaxError(`bad URL ${url}`);
    }
  }
  return {
    WebAssembly: { instantiate() {} },
    WebSocket: function WebSocket() {},
    fetch() {},
    ResizeObserver: function ResizeObserver() {},
    ImageData: function ImageData() {},
    Worker,
  };
}

test('a current browser lacks nothing', () => {
  assert.deepEqual(boot.missingFeatures(modern()), []);
});

test('each missing feature is named', () => {
  const g = modern();
  delete g.WebAssembly;
  delete g.WebSocket;
  assert.deepEqual(boot.missingFeatures(g), ['WebAssembly', 'WebSocket']);
  const noWorkers = modern();
  delete noWorkers.Worker;
  assert.deepEqual(boot.missingFeatures(noWorkers), ['module Web Workers']);
});

test('a Worker that ignores {type: "module"} means no module workers', () => {
  const g = modern();
  g.Worker = class {
    constructor(url) {
      throw new SyntaxError(`bad URL ${url}`);
    }
  };
  assert.deepEqual(boot.missingFeatures(g), ['module Web Workers']);
});

test('a feature check that throws counts as missing', () => {
  const g = modern();
  Object.defineProperty(g, 'fetch', { get() { throw new Error('blocked'); } });
  assert.deepEqual(boot.missingFeatures(g), ['fetch']);
});

test('the message names what is missing and what to do', () => {
  const text = boot.missingMessage(['WebAssembly', 'module Web Workers']);
  assert.match(text, /lacks WebAssembly, module Web Workers\./);
  assert.match(text, /current version of Firefox, Chromium, Edge or Safari/);
});

test('a failed start says to reload, then to change browsers', () => {
  const text = boot.startFailure('CompileError: wasm blocked');
  assert.match(text, /^Vigil failed to start: CompileError: wasm blocked\. Reload the page/);
  assert.match(text, /current version of Firefox, Chromium, Edge or Safari\.$/);
});

test('node itself has what the check looks for, where it has it', () => {
  // Sanity: the check runs against a real global without throwing.
  assert.ok(Array.isArray(boot.missingFeatures(globalThis)));
});
