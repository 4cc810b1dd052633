// Starts the app. Loaded as a module (deferred). First checks that the browser has what
// the app needs, and if not says which feature is missing instead of failing half-way.
// xterm.js and its fit addon are not loaded here: the app adds them to the page when a
// terminal is about to open. The pure part is exported for tests/js/boot.test.mjs.

/// Whether `Worker` takes `{type: 'module'}` (the desktop decoder is a module worker): a
/// browser that reads the option's `type` knows it. No worker is started: the empty URL
/// is refused after the options are read.
function moduleWorkers(g) {
  if (typeof g.Worker !== 'function') return false;
  let read = false;
  try {
    new g.Worker('http://[', { get type() { read = true; return 'module'; } });
  } catch {
    // The URL is refused on purpose.
  }
  return read;
}

/// What the app needs, each with the name the page shows when it is missing.
const NEEDS = [
  ['WebAssembly', (g) => typeof g.WebAssembly === 'object' && typeof g.WebAssembly.instantiate === 'function'],
  ['WebSocket', (g) => typeof g.WebSocket === 'function'],
  ['fetch', (g) => typeof g.fetch === 'function'],
  ['ResizeObserver', (g) => typeof g.ResizeObserver === 'function'],
  ['module Web Workers', moduleWorkers],
  ['canvas ImageData', (g) => typeof g.ImageData === 'function'],
];

/// The names of the features `g` (the window) lacks, in the order of `NEEDS`.
export function missingFeatures(g) {
  return NEEDS.filter(([, has]) => {
    try {
      return !has(g);
    } catch {
      return true;
    }
  }).map(([name]) => name);
}

/// What the page says when `missing` is not empty.
export function missingMessage(missing) {
  return `This browser cannot run Vigil: it lacks ${missing.join(', ')}. `
    + 'Open Vigil in a current version of Firefox, Chromium, Edge or Safari, '
    + 'or ask your administrator to enable these features.';
}

/// What the page says when the app failed to start for `reason`.
export function startFailure(reason) {
  return `Vigil failed to start: ${reason}. Reload the page to try again; if it fails again, `
    + 'open Vigil in a current version of Firefox, Chromium, Edge or Safari.';
}

function fail(boot, message) {
  if (boot) {
    boot.textContent = message;
    boot.classList.add('boot-error');
    boot.setAttribute('role', 'alert');
  }
}

async function start() {
  const boot = document.getElementById('boot');
  const missing = missingFeatures(globalThis);
  if (missing.length > 0) {
    if (boot) boot.dataset.missing = missing.join(',');
    fail(boot, missingMessage(missing));
    return;
  }
  try {
    const { default: init } = await import('./vigil_app.js');
    await init();
    if (boot) boot.remove();
  } catch (err) {
    console.error('Vigil failed to start', err);
    fail(boot, startFailure(err && err.message ? err.message : String(err)));
  }
}

if (typeof document === 'object') {
  start();
}
