//! The keyboard alone: WebDriver key actions sent to whatever has the focus (never a
//! click or a script's `focus()`), and what the focused element shows.

use anyhow::{Context, Result};
use fantoccini::actions::{InputSource, KeyAction, KeyActions};
use serde_json::{json, Value};

use super::Browser;

/// A JS function body: what the focused element is, and whether it shows a focus
/// indicator (an outline at least 2 px wide in a colour that is not transparent, or a
/// box shadow), on itself or, for xterm.js's hidden text area, on its terminal.
const FOCUS_RING: &str = r#"
const a = document.activeElement;
if (!a || a === document.body || a === document.documentElement) {
  return { focused: false, ok: false, what: 'nothing (the page body)' };
}
const shown = a.closest('.term-host') || a;
const cs = getComputedStyle(shown);
const clear = c => c === 'transparent' || /rgba\(.*,\s*0\)$/.test(c);
const outline = cs.outlineStyle !== 'none' && parseFloat(cs.outlineWidth) >= 2 && !clear(cs.outlineColor);
const shadow = cs.boxShadow !== 'none' && cs.boxShadow !== '';
const r = shown.getBoundingClientRect();
const id = a.getAttribute('data-testid');
const what = a.tagName.toLowerCase() + (id ? `[data-testid="${id}"]` : '')
  + (a.getAttribute('href') ? `[href="${a.getAttribute('href')}"]` : '')
  + ' "' + (a.innerText || a.value || a.getAttribute('aria-label') || '').trim().slice(0, 40) + '"';
return { focused: true, ok: (outline || shadow) && r.width > 0 && r.height > 0, what,
  outline: `${cs.outlineStyle} ${cs.outlineWidth} ${cs.outlineColor}`, shadow: cs.boxShadow };
"#;

impl Browser {
    async fn keys(&self, actions: KeyActions, what: &str) -> Result<()> {
        self.client
            .perform_actions(actions)
            .await
            .with_context(|| format!("{}: keys {what}", self.name))?;
        self.client
            .release_actions()
            .await
            .with_context(|| format!("{}: release keys", self.name))
    }

    /// Presses and releases each key of `keys` in turn (`fantoccini::key::Key` values as
    /// chars, or plain characters).
    pub async fn press(&self, keys: &[char]) -> Result<()> {
        let mut actions = KeyActions::new("keyboard".into());
        for &k in keys {
            actions = actions
                .then(KeyAction::Down { value: k })
                .then(KeyAction::Up { value: k });
        }
        self.keys(actions, &format!("{} presses", keys.len())).await
    }

    /// Types `text` into whatever has the focus, one key per character.
    pub async fn type_keys(&self, text: &str) -> Result<()> {
        self.press(&text.chars().collect::<Vec<_>>()).await
    }

    /// Holds `keys` down in order, then lets them go in reverse: a chord.
    pub async fn chord(&self, keys: &[char]) -> Result<()> {
        let mut actions = KeyActions::new("keyboard".into());
        for &k in keys {
            actions = actions.then(KeyAction::Down { value: k });
        }
        for &k in keys.iter().rev() {
            actions = actions.then(KeyAction::Up { value: k });
        }
        self.keys(actions, "chord").await
    }

    /// What has the focus, and whether it shows it (see [`FOCUS_RING`]).
    pub async fn focus_state(&self) -> Result<Value> {
        self.js(FOCUS_RING, vec![]).await
    }

    /// Whether the focused element matches `css`.
    pub async fn focus_is(&self, css: &str) -> Result<bool> {
        let v = self
            .js(
                "const a = document.activeElement; return !!(a && a.matches(arguments[0]));",
                vec![json!(css)],
            )
            .await?;
        Ok(v == Value::Bool(true))
    }

    /// Fails (with the page saved) unless something has the focus and shows it.
    pub async fn expect_focus_ring(&self, step: &str) -> Result<()> {
        let v = self.focus_state().await?;
        if v["ok"] != Value::Bool(true) {
            return Err(self
                .fail(format!("{step}: the focus is not visible: {v}"))
                .await);
        }
        Ok(())
    }

    /// Presses Tab until the focused element matches `css`, at most `max` times; every
    /// element the focus stops at on the way must show it. Returns how many presses it
    /// took (0 when it already had the focus).
    pub async fn tab_to(&self, css: &str, max: usize) -> Result<usize> {
        let mut stops = Vec::new();
        for presses in 0..=max {
            if self.focus_is(css).await? {
                self.expect_focus_ring(&format!("at `{css}`")).await?;
                return Ok(presses);
            }
            if presses > 0 {
                let v = self.focus_state().await?;
                stops.push(v["what"].as_str().unwrap_or_default().to_string());
                if v["focused"] == Value::Bool(true) && v["ok"] != Value::Bool(true) {
                    return Err(self
                        .fail(format!(
                            "on the way to `{css}`, the focus is not visible: {v}"
                        ))
                        .await);
                }
            }
            if presses < max {
                self.press(&[fantoccini::key::Key::Tab.into()]).await?;
            }
        }
        Err(self
            .fail(format!(
                "Tab did not reach `{css}` in {max} presses; it stopped at: {}",
                stops.join(" → ")
            ))
            .await)
    }
}
