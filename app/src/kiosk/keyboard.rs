//! What the kiosk says of the Keyboard Lock API (`navigator.keyboard.lock()`) on a desktop
//! session: the outcome in `data-keyboard-lock` and in words.

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyboardLock {
    /// Not in full screen yet: the lock is asked for on entering it.
    Waiting,
    /// Asked for; the browser has not answered.
    Asking,
    /// The browser granted it: in full screen, the keys below reach the page.
    Locked,
    /// The browser has no `navigator.keyboard.lock`.
    Unsupported,
    /// The browser refused (its message).
    Failed(String),
}

/// The keys a browser or system keeps when the keyboard is not locked.
pub const KEPT_KEYS: &str = "Alt+Tab, the Windows key and Escape (Escape leaves full screen)";

impl KeyboardLock {
    /// The value of `data-keyboard-lock`.
    pub fn attr(&self) -> &'static str {
        match self {
            KeyboardLock::Waiting => "waiting",
            KeyboardLock::Asking => "asking",
            KeyboardLock::Locked => "locked",
            KeyboardLock::Unsupported => "unsupported",
            KeyboardLock::Failed(_) => "failed",
        }
    }

    pub fn text(&self) -> String {
        match self {
            KeyboardLock::Waiting => {
                "Keyboard not locked yet: enter full screen to keep Alt+Tab, the Windows key and Escape in this page.".into()
            }
            KeyboardLock::Asking => "Locking the keyboard…".into(),
            KeyboardLock::Locked => {
                "Keyboard locked: Alt+Tab, the Windows key and Escape stay in this page. Hold Escape to leave full screen.".into()
            }
            KeyboardLock::Unsupported => {
                format!("This browser cannot lock the keyboard: it keeps {KEPT_KEYS}.")
            }
            KeyboardLock::Failed(why) => {
                format!("The browser refused to lock the keyboard ({why}): it keeps {KEPT_KEYS}.")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_outcome_has_an_attribute_and_words() {
        assert_eq!(KeyboardLock::Locked.attr(), "locked");
        assert_eq!(KeyboardLock::Unsupported.attr(), "unsupported");
        assert_eq!(KeyboardLock::Failed("x".into()).attr(), "failed");
        assert!(KeyboardLock::Unsupported.text().contains("Alt+Tab"));
        assert!(KeyboardLock::Failed("denied".into())
            .text()
            .contains("(denied)"));
        assert!(KeyboardLock::Locked.text().contains("Escape"));
    }
}
