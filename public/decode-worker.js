// Vigil's RDP decode worker (a module worker): decodes the relay's graphics off the page's
// main thread. Messages that arrive while the wasm loads are kept and handed over.
import init, { run } from './vigil_decode_worker.js';

const early = [];
self.onmessage = (ev) => early.push(ev.data);

try {
  await init();
  run(early);
} catch (err) {
  self.postMessage('The desktop decoder failed to start: ' + (err && err.message ? err.message : err));
}
