//! The scripts the bench runs in each replay page: the canvas hash, the first paint, one seek.

pub(crate) const HASH_JS: &str = r#"
const canvas = () => document.querySelector('[data-testid="replay-canvas"]');
const hash = () => {
  const c = canvas();
  if (!c || !c.width || !c.height) return null;
  const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
  let h = 0x811c9dc5;
  for (let i = 0; i < d.length; i += 4) {
    h = Math.imul(h ^ d[i], 16777619);
    h = Math.imul(h ^ d[i + 1], 16777619);
    h = Math.imul(h ^ d[i + 2], 16777619);
  }
  return (h >>> 0) + ':' + c.width + 'x' + c.height;
};
const fetches = (t0) => performance.getEntriesByType('resource')
  .filter(e => /\/recording(\/index)?$/.test(e.name))
  .map(e => ({ index: e.name.endsWith('/index'), bytes: e.encodedBodySize,
               transfer: e.transferSize, start: e.startTime - t0, end: e.responseEnd - t0 }));
"#;

/// `arguments`: the wanted hash (or null: the recording fetch is enough), a timeout in ms.
/// Waits for the page's first picture; times are from navigation start.
pub(crate) const FIRST_PAINT_JS: &str = r#"
const [want, timeoutMs] = arguments, done = arguments[arguments.length - 1];
const step = () => {
  const seen = performance.now();
  const ready = document.querySelector('[data-testid="replay-seek"]') && canvas();
  const f = fetches(0);
  const hit = ready && (want === null ? f.some(e => !e.index) : hash() === want);
  if (hit) return done({ ok: true, ms: seen, fetches: f });
  if (seen > timeoutMs) return done({ ok: false, ms: seen, last: ready ? hash() : null, fetches: f });
  requestAnimationFrame(step);
};
requestAnimationFrame(step);
"#;

/// `arguments`: target ms, the wanted hash, a timeout in ms. Seeks with the slider and
/// polls the canvas each animation frame until it shows the wanted picture; then reads the
/// page's own timing of the seek, if it publishes one.
pub(crate) const SEEK_JS: &str = r#"
const [t, want, timeoutMs] = arguments, done = arguments[arguments.length - 1];
const input = document.querySelector('[data-testid="replay-seek"]');
if (!input || !canvas()) return done({ error: 'no seek control or canvas' });
const before = hash();
performance.clearResourceTimings();
input.value = String(t);
const set = Number(input.value);
const t0 = performance.now();
input.dispatchEvent(new Event('input', { bubbles: true }));
// The page's own figure for this seek (`seek-stats`), when it publishes one.
const stats = () => {
  const e = document.querySelector('[data-testid="seek-stats"]');
  try { return e ? JSON.parse(e.textContent) : null; } catch (_) { return null; }
};
const seeks0 = (stats() || { seeks: 0 }).seeks;
const finish = (res) => {
  let frames = 0;
  const wait = () => {
    const s = stats();
    const mine = s && s.seeks > seeks0 && s.last_target_ms === t;
    if (!s || mine || frames++ > 30) return done({ ...res, app_ms: mine ? s.last_ms : null });
    requestAnimationFrame(wait);
  };
  wait();
};
const step = () => {
  const seen = performance.now();
  const now = hash();
  if (now === want) return finish({ ok: true, ms: seen - t0, set, before, fetches: fetches(t0) });
  if (seen - t0 > timeoutMs) return finish({ ok: false, ms: seen - t0, set, before, last: now, fetches: fetches(t0) });
  requestAnimationFrame(step);
};
requestAnimationFrame(step);
"#;

/// Times one hash of the canvas in the page (the polling granularity's main cost).
pub(crate) const HASH_COST_JS: &str = r#"
const t0 = performance.now();
for (let i = 0; i < 5; i++) hash();
return (performance.now() - t0) / 5;
"#;
