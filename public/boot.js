// Starts the app. Loaded as a module (deferred), after xterm.js and addon-fit.js,
// which are classic deferred scripts that define the `Terminal` and `FitAddon` globals.
import init from './vigil_app.js';

const boot = document.getElementById('boot');

function fail(message) {
  if (boot) {
    boot.textContent = message;
    boot.classList.add('boot-error');
    boot.setAttribute('role', 'alert');
  }
}

if (typeof WebAssembly !== 'object') {
  fail('Vigil needs a browser with WebAssembly enabled.');
} else {
  try {
    await init();
    if (boot) boot.remove();
  } catch (err) {
    console.error('Vigil failed to start', err);
    fail('Vigil failed to start: ' + (err && err.message ? err.message : err) + '. Reload the page to try again.');
  }
}
