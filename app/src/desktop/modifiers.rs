//! Modifier state on the desktop kept in step with each key event's own flags (pure, no
//! DOM).
//!
//! A key event says which modifiers are held (`getModifierState`, `shiftKey`…), whether or
//! not a keydown for them was seen. Before each key goes to the relay, [`ModifierSync`]
//! presses a modifier the event says is held but the target has up, and releases one the
//! event says is up but the target holds. So a Shift held when focus arrived, an on-screen
//! or touch keyboard, or a synthesized event (a WebDriver in Firefox types `K` with no
//! Shift keydown before it, nor even a Shift flag: [`Flags::with_typed`] reads it from the
//! upper-case letter) still types the right character. Modifiers pressed this way are
//! released again once the key that needed them is released.
//!
//! CapsLock and NumLock are toggles: the target's state is taken to match the first event's
//! flags, and a later event whose flag differs (the lock was toggled away from the canvas)
//! toggles it on the target with a press and a release.

/// A modifier held while keys are pressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Modifier {
    Shift,
    Control,
    Alt,
    Meta,
}

impl Modifier {
    pub const ALL: [Modifier; 4] = [Self::Shift, Self::Control, Self::Alt, Self::Meta];

    /// The modifier a `KeyboardEvent.code` is, if any, and that code.
    pub fn of_code(code: &str) -> Option<(Modifier, &'static str)> {
        Some(match code {
            "ShiftLeft" => (Self::Shift, "ShiftLeft"),
            "ShiftRight" => (Self::Shift, "ShiftRight"),
            "ControlLeft" => (Self::Control, "ControlLeft"),
            "ControlRight" => (Self::Control, "ControlRight"),
            "AltLeft" => (Self::Alt, "AltLeft"),
            "AltRight" => (Self::Alt, "AltRight"),
            "MetaLeft" => (Self::Meta, "MetaLeft"),
            "MetaRight" => (Self::Meta, "MetaRight"),
            // Older browsers call the Windows keys OSLeft/OSRight.
            "OSLeft" => (Self::Meta, "OSLeft"),
            "OSRight" => (Self::Meta, "OSRight"),
            _ => return None,
        })
    }

    /// The key pressed for it when no event named one: the left one.
    fn left_code(self) -> &'static str {
        match self {
            Self::Shift => "ShiftLeft",
            Self::Control => "ControlLeft",
            Self::Alt => "AltLeft",
            Self::Meta => "MetaLeft",
        }
    }

    /// Its `KeyboardEvent.key` name (the keystroke log's hint).
    pub fn key_name(self) -> &'static str {
        match self {
            Self::Shift => "Shift",
            Self::Control => "Control",
            Self::Alt => "Alt",
            Self::Meta => "Meta",
        }
    }
}

/// A toggled lock key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lock {
    CapsLock,
    NumLock,
}

impl Lock {
    pub const ALL: [Lock; 2] = [Self::CapsLock, Self::NumLock];

    fn of_code(code: &str) -> Option<Lock> {
        match code {
            "CapsLock" => Some(Self::CapsLock),
            "NumLock" => Some(Self::NumLock),
            _ => None,
        }
    }

    /// Its `KeyboardEvent.code`, which is also its `key` name.
    pub fn code(self) -> &'static str {
        match self {
            Self::CapsLock => "CapsLock",
            Self::NumLock => "NumLock",
        }
    }

    fn index(self) -> usize {
        match self {
            Self::CapsLock => 0,
            Self::NumLock => 1,
        }
    }
}

/// The modifier flags one key event carries.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Flags {
    pub shift: bool,
    pub control: bool,
    pub alt: bool,
    /// AltGr (`getModifierState("AltGraph")`): the right Alt key on many layouts; it
    /// counts as Alt being held, and is pressed as the right Alt key.
    pub alt_graph: bool,
    pub meta: bool,
    pub caps_lock: bool,
    pub num_lock: bool,
}

impl Flags {
    /// Completes the flags from the character the key typed (`KeyboardEvent.key`): a
    /// letter in upper case with neither Shift nor Caps Lock set was typed with Shift.
    /// Firefox driven by geckodriver sends `K` with no Shift flag and no Shift keydown.
    pub fn with_typed(mut self, key: &str) -> Flags {
        let mut chars = key.chars();
        if let (Some(c), None) = (chars.next(), chars.next()) {
            if c.is_uppercase() && !self.shift && !self.caps_lock {
                self.shift = true;
            }
        }
        self
    }

    fn held(&self, m: Modifier) -> bool {
        match m {
            Modifier::Shift => self.shift,
            Modifier::Control => self.control,
            Modifier::Alt => self.alt || self.alt_graph,
            Modifier::Meta => self.meta,
        }
    }

    fn lock(&self, l: Lock) -> bool {
        match l {
            Lock::CapsLock => self.caps_lock,
            Lock::NumLock => self.num_lock,
        }
    }
}

/// One key edge to send before or after the event's own key, by `KeyboardEvent.code`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyEdge {
    pub code: &'static str,
    pub down: bool,
    /// The key's `KeyboardEvent.key` name, for the keystroke log's hint.
    pub key: &'static str,
}

/// A modifier key the target holds.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Held {
    code: &'static str,
    modifier: Modifier,
    /// Pressed by [`ModifierSync`] (no keydown was seen for it): released after the key
    /// that needed it.
    synthetic: bool,
}

/// What the target holds, as far as the keys sent to it say.
#[derive(Debug, Default)]
pub struct ModifierSync {
    held: Vec<Held>,
    /// The target's lock states as believed (`None`: learn it from the next event).
    locks: [Option<bool>; 2],
}

impl ModifierSync {
    /// The edges to send before the key `code` (`down` or up), so that the target's
    /// modifiers match the event's `flags`. The key's own modifier (a Shift key's event) is
    /// left to the key itself.
    pub fn before(&mut self, code: &str, flags: Flags) -> Vec<KeyEdge> {
        let own = Modifier::of_code(code).map(|(m, _)| m);
        let mut edges = Vec::new();
        for m in Modifier::ALL {
            if own == Some(m) {
                continue;
            }
            let want = flags.held(m);
            let have = self.held.iter().any(|h| h.modifier == m);
            if want && !have {
                let code = if m == Modifier::Alt && flags.alt_graph && !flags.alt {
                    "AltRight"
                } else {
                    m.left_code()
                };
                edges.push(KeyEdge {
                    code,
                    down: true,
                    key: m.key_name(),
                });
                self.held.push(Held {
                    code,
                    modifier: m,
                    synthetic: true,
                });
            } else if !want && have {
                edges.extend(self.release(|h| h.modifier == m));
            }
        }
        let own_lock = Lock::of_code(code);
        for l in Lock::ALL {
            if own_lock == Some(l) {
                continue;
            }
            let now = flags.lock(l);
            let slot = &mut self.locks[l.index()];
            if slot.is_some_and(|was| was != now) {
                for down in [true, false] {
                    edges.push(KeyEdge {
                        code: l.code(),
                        down,
                        key: l.code(),
                    });
                }
            }
            *slot = Some(now);
        }
        edges
    }

    /// Notes the key `code` just sent (`down` or up); returns the edges to send after it:
    /// the modifiers pressed for it, once a key that is no modifier is released.
    pub fn after(&mut self, code: &str, down: bool) -> Vec<KeyEdge> {
        if let Some((m, code)) = Modifier::of_code(code) {
            self.held.retain(|h| h.code != code);
            if down {
                self.held.push(Held {
                    code,
                    modifier: m,
                    synthetic: false,
                });
            }
            return Vec::new();
        }
        if let Some(l) = Lock::of_code(code) {
            // Whether the flags of the lock key's own events show the state before or
            // after the toggle differs between browsers: learn it from the next event.
            self.locks[l.index()] = None;
            return Vec::new();
        }
        if down {
            return Vec::new();
        }
        self.release(|h| h.synthetic)
    }

    /// Forgets every held key (everything was released at once).
    pub fn reset(&mut self) {
        *self = ModifierSync::default();
    }

    fn release(&mut self, which: impl Fn(&Held) -> bool) -> Vec<KeyEdge> {
        let mut edges = Vec::new();
        self.held.retain(|h| {
            if !which(h) {
                return true;
            }
            edges.push(KeyEdge {
                code: h.code,
                down: false,
                key: h.modifier.key_name(),
            });
            false
        });
        edges
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn edge(code: &'static str, down: bool) -> (&'static str, bool) {
        (code, down)
    }

    fn codes(edges: &[KeyEdge]) -> Vec<(&'static str, bool)> {
        edges.iter().map(|e| (e.code, e.down)).collect()
    }

    const SHIFT: Flags = Flags {
        shift: true,
        control: false,
        alt: false,
        alt_graph: false,
        meta: false,
        caps_lock: false,
        num_lock: false,
    };
    const NONE: Flags = Flags {
        shift: false,
        ..SHIFT
    };

    /// Sends one key event through `sync`: the edges before, the key, the edges after.
    fn send(
        sync: &mut ModifierSync,
        code: &'static str,
        down: bool,
        flags: Flags,
    ) -> Vec<(&'static str, bool)> {
        let mut out = codes(&sync.before(code, flags));
        out.push(edge(code, down));
        out.extend(codes(&sync.after(code, down)));
        out
    }

    #[test]
    fn a_capital_without_a_shift_keydown_gets_shift_around_it() {
        // Firefox through geckodriver: `K` comes as KeyK with shiftKey set, no ShiftLeft.
        let mut s = ModifierSync::default();
        assert_eq!(
            send(&mut s, "KeyK", true, SHIFT),
            [edge("ShiftLeft", true), edge("KeyK", true)]
        );
        assert_eq!(
            send(&mut s, "KeyK", false, SHIFT),
            [edge("KeyK", false), edge("ShiftLeft", false)]
        );
        // The next lower-case letter has nothing added.
        assert_eq!(send(&mut s, "KeyM", true, NONE), [edge("KeyM", true)]);
        assert_eq!(send(&mut s, "KeyM", false, NONE), [edge("KeyM", false)]);
    }

    #[test]
    fn an_upper_case_letter_without_flags_was_typed_with_shift() {
        // Firefox through geckodriver: key `K`, code KeyK, no flag at all.
        assert_eq!(NONE.with_typed("K"), SHIFT);
        assert_eq!(NONE.with_typed("Ä"), SHIFT);
        let mut s = ModifierSync::default();
        assert_eq!(
            send(&mut s, "KeyK", true, NONE.with_typed("K")),
            [edge("ShiftLeft", true), edge("KeyK", true)]
        );
        assert_eq!(
            send(&mut s, "KeyK", false, NONE.with_typed("K")),
            [edge("KeyK", false), edge("ShiftLeft", false)]
        );
        // Nothing else is guessed: lower case, digits, names, Caps Lock's capitals.
        assert_eq!(NONE.with_typed("k"), NONE);
        assert_eq!(NONE.with_typed("1"), NONE);
        assert_eq!(NONE.with_typed("Enter"), NONE);
        let caps = Flags {
            caps_lock: true,
            ..NONE
        };
        assert_eq!(caps.with_typed("K"), caps);
        assert_eq!(SHIFT.with_typed("K"), SHIFT);
    }

    #[test]
    fn a_real_shift_is_sent_once_and_kept_while_held() {
        // Chromium: ShiftLeft down (its own flag set), K, ShiftLeft up.
        let mut s = ModifierSync::default();
        assert_eq!(
            send(&mut s, "ShiftLeft", true, SHIFT),
            [edge("ShiftLeft", true)]
        );
        assert_eq!(send(&mut s, "KeyK", true, SHIFT), [edge("KeyK", true)]);
        assert_eq!(send(&mut s, "KeyK", false, SHIFT), [edge("KeyK", false)]);
        assert_eq!(send(&mut s, "KeyA", true, SHIFT), [edge("KeyA", true)]);
        assert_eq!(send(&mut s, "KeyA", false, SHIFT), [edge("KeyA", false)]);
        assert_eq!(
            send(&mut s, "ShiftLeft", false, NONE),
            [edge("ShiftLeft", false)]
        );
        assert_eq!(send(&mut s, "KeyA", true, NONE), [edge("KeyA", true)]);
    }

    #[test]
    fn a_shift_released_away_from_the_canvas_is_released_on_the_target() {
        let mut s = ModifierSync::default();
        send(&mut s, "ShiftRight", true, SHIFT);
        // Its keyup went elsewhere; the next key says Shift is up.
        assert_eq!(
            send(&mut s, "KeyA", true, NONE),
            [edge("ShiftRight", false), edge("KeyA", true)]
        );
        assert!(s.held.is_empty());
    }

    #[test]
    fn control_alt_and_meta_follow_their_flags() {
        let mut s = ModifierSync::default();
        let ctrl_alt = Flags {
            control: true,
            alt: true,
            ..NONE
        };
        assert_eq!(
            send(&mut s, "Delete", true, ctrl_alt),
            [
                edge("ControlLeft", true),
                edge("AltLeft", true),
                edge("Delete", true)
            ]
        );
        assert_eq!(
            send(&mut s, "Delete", false, ctrl_alt),
            [
                edge("Delete", false),
                edge("ControlLeft", false),
                edge("AltLeft", false)
            ]
        );
        let meta = Flags { meta: true, ..NONE };
        assert_eq!(
            send(&mut s, "KeyE", true, meta),
            [edge("MetaLeft", true), edge("KeyE", true)]
        );
    }

    #[test]
    fn altgr_holds_the_right_alt_key() {
        // AltGr on Linux: AltRight's keydown, then keys with only AltGraph set.
        let altgr = Flags {
            alt_graph: true,
            ..NONE
        };
        let mut s = ModifierSync::default();
        assert_eq!(
            send(&mut s, "AltRight", true, altgr),
            [edge("AltRight", true)]
        );
        assert_eq!(send(&mut s, "KeyQ", true, altgr), [edge("KeyQ", true)]);
        assert_eq!(send(&mut s, "KeyQ", false, altgr), [edge("KeyQ", false)]);
        // With no keydown seen for it, AltGr is pressed as the right Alt.
        let mut s = ModifierSync::default();
        assert_eq!(
            send(&mut s, "KeyQ", true, altgr),
            [edge("AltRight", true), edge("KeyQ", true)]
        );
    }

    #[test]
    fn a_modifiers_own_event_is_not_fought() {
        // A Shift keyup whose own flag still says Shift (some browsers): no extra edges.
        let mut s = ModifierSync::default();
        send(&mut s, "ShiftLeft", true, SHIFT);
        assert_eq!(
            send(&mut s, "ShiftLeft", false, SHIFT),
            [edge("ShiftLeft", false)]
        );
        assert!(s.held.is_empty());
    }

    #[test]
    fn locks_toggled_away_from_the_canvas_are_toggled_on_the_target() {
        let mut s = ModifierSync::default();
        // The first event sets what the target is taken to have.
        assert_eq!(send(&mut s, "KeyA", true, NONE), [edge("KeyA", true)]);
        send(&mut s, "KeyA", false, NONE);
        let caps = Flags {
            caps_lock: true,
            ..NONE
        };
        assert_eq!(
            send(&mut s, "KeyB", true, caps),
            [
                edge("CapsLock", true),
                edge("CapsLock", false),
                edge("KeyB", true)
            ]
        );
        assert_eq!(send(&mut s, "KeyB", false, caps), [edge("KeyB", false)]);
        // CapsLock pressed on the canvas: its own events are left alone and the state is
        // learnt again from the next key.
        assert_eq!(
            send(&mut s, "CapsLock", true, NONE),
            [edge("CapsLock", true)]
        );
        assert_eq!(
            send(&mut s, "CapsLock", false, NONE),
            [edge("CapsLock", false)]
        );
        assert_eq!(send(&mut s, "KeyC", true, NONE), [edge("KeyC", true)]);
        let num = Flags {
            num_lock: true,
            ..NONE
        };
        assert_eq!(
            send(&mut s, "Numpad1", true, num),
            [
                edge("NumLock", true),
                edge("NumLock", false),
                edge("Numpad1", true)
            ]
        );
    }

    #[test]
    fn reset_forgets_everything() {
        let mut s = ModifierSync::default();
        send(&mut s, "KeyK", true, SHIFT);
        s.reset();
        assert_eq!(
            send(&mut s, "KeyK", true, SHIFT),
            [edge("ShiftLeft", true), edge("KeyK", true)]
        );
    }

    #[test]
    fn every_edge_has_a_scancode() {
        use super::super::input::scancode;
        for code in [
            "ShiftLeft",
            "ControlLeft",
            "AltLeft",
            "AltRight",
            "MetaLeft",
        ]
        .into_iter()
        .chain(Lock::ALL.map(Lock::code))
        {
            assert!(scancode(code).is_some(), "{code}");
        }
    }
}
