// Starts the app. Loaded as a module (deferred). xterm.js and its fit addon are not
// loaded here: the app adds them to the page when a terminal is about to open.
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
