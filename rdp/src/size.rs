//! The desktop size the relay asks a server for.

use std::fmt;
use std::str::FromStr;

use crate::error::StreamError;

/// A requested desktop size, within [`DesktopSize::MIN`] and [`DesktopSize::MAX`].
///
/// It is a request: the server answers with the size it will use (in its Demand Active), and
/// that answer is what [`crate::SessionParams`] carries and what the screen, browsers and
/// recording use. xrdp gives the size asked for; freerdp-shadow always shares its own screen.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct DesktopSize {
    width: u16,
    height: u16,
}

/// A desktop size out of bounds, or not written `WIDTHxHEIGHT`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SizeError {
    #[error(
        "desktop size {width}x{height} is out of range: width {}-{}, height {}-{}",
        DesktopSize::MIN.width, DesktopSize::MAX.width, DesktopSize::MIN.height, DesktopSize::MAX.height
    )]
    OutOfRange { width: u32, height: u32 },
    #[error("desktop size `{0}` is not WIDTHxHEIGHT (e.g. 1920x1080)")]
    Syntax(String),
}

impl DesktopSize {
    /// Smaller desktops are of no use to an administrator.
    pub const MIN: DesktopSize = DesktopSize {
        width: 640,
        height: 480,
    };
    /// 5K. The protocol allows 8192×8192, but the relay keeps a decoded copy of every
    /// screen (4 bytes a pixel): this bounds it at 59 MB a session.
    pub const MAX: DesktopSize = DesktopSize {
        width: 5120,
        height: 2880,
    };
    /// What the relay asks for when an asset names no size.
    pub const DEFAULT: DesktopSize = DesktopSize {
        width: 1024,
        height: 768,
    };

    pub fn new(width: u16, height: u16) -> Result<DesktopSize, SizeError> {
        Self::checked(u32::from(width), u32::from(height))
    }

    fn checked(width: u32, height: u32) -> Result<DesktopSize, SizeError> {
        let fits = |v: u32, min: u16, max: u16| (u32::from(min)..=u32::from(max)).contains(&v);
        if !fits(width, Self::MIN.width, Self::MAX.width)
            || !fits(height, Self::MIN.height, Self::MAX.height)
        {
            return Err(SizeError::OutOfRange { width, height });
        }
        // In range, so both fit in u16.
        let narrow = |v: u32| u16::try_from(v).map_err(|_| SizeError::OutOfRange { width, height });
        Ok(DesktopSize {
            width: narrow(width)?,
            height: narrow(height)?,
        })
    }

    /// Check the size a server answered with (at activation or reactivation) before anything
    /// is allocated for it: at least 1×1 and at most [`DesktopSize::MAX`], the relay's bound
    /// on its decoded copy of the screen. The server may pick a size other than the one asked
    /// for (a shadow server shares its own screen), so [`DesktopSize::MIN`] does not apply.
    pub(crate) fn check_server_answer(width: u16, height: u16) -> Result<(), StreamError> {
        if width == 0 || height == 0 {
            return Err(StreamError::DesktopEmpty { width, height });
        }
        if width > Self::MAX.width || height > Self::MAX.height {
            return Err(StreamError::DesktopTooLarge { width, height });
        }
        Ok(())
    }

    pub fn width(self) -> u16 {
        self.width
    }

    pub fn height(self) -> u16 {
        self.height
    }
}

impl Default for DesktopSize {
    fn default() -> Self {
        Self::DEFAULT
    }
}

impl fmt::Display for DesktopSize {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}x{}", self.width, self.height)
    }
}

/// `1920x1080` (also `1920X1080` and `1920×1080`).
impl FromStr for DesktopSize {
    type Err = SizeError;
    fn from_str(s: &str) -> Result<Self, SizeError> {
        let syntax = || SizeError::Syntax(s.to_string());
        let (w, h) = s.trim().split_once(['x', 'X', '×']).ok_or_else(syntax)?;
        let num = |v: &str| {
            let v = v.trim();
            if v.is_empty() || !v.bytes().all(|b| b.is_ascii_digit()) {
                return Err(syntax());
            }
            // Huge numbers are out of range, not a syntax error.
            Ok(v.parse::<u32>().unwrap_or(u32::MAX))
        };
        Self::checked(num(w)?, num(h)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_prints_width_x_height() {
        let s: DesktopSize = "1920x1080".parse().expect("parse");
        assert_eq!((s.width(), s.height()), (1920, 1080));
        assert_eq!(s.to_string(), "1920x1080");
        assert_eq!(" 1280 X 720 ".parse(), DesktopSize::new(1280, 720));
        assert_eq!("1366×768".parse(), DesktopSize::new(1366, 768));
        assert_eq!(DesktopSize::default().to_string(), "1024x768");
    }

    #[test]
    fn refuses_bad_syntax_and_sizes_out_of_range() {
        for bad in [
            "",
            "1920",
            "1920x",
            "x1080",
            "-1920x1080",
            "19.2x1080",
            "1920x1080x1",
        ] {
            assert!(
                matches!(bad.parse::<DesktopSize>(), Err(SizeError::Syntax(_))),
                "{bad}"
            );
        }
        for bad in [
            "639x480",
            "640x479",
            "5121x1080",
            "1920x2881",
            "99999999999x1080",
        ] {
            let err = bad.parse::<DesktopSize>().expect_err(bad);
            assert!(matches!(err, SizeError::OutOfRange { .. }), "{bad}");
            assert!(err.to_string().contains("width 640-5120"), "{err}");
        }
        assert!(DesktopSize::new(640, 480).is_ok() && DesktopSize::new(5120, 2880).is_ok());
    }

    #[test]
    fn server_answers_are_bounded_by_max_and_nonzero() {
        for ok in [(1, 1), (5120, 2880), (640, 480), (5120, 1), (1, 2880)] {
            assert!(
                DesktopSize::check_server_answer(ok.0, ok.1).is_ok(),
                "{ok:?}"
            );
        }
        let err = DesktopSize::check_server_answer(65535, 65535).expect_err("too large");
        assert!(matches!(err, StreamError::DesktopTooLarge { .. }));
        assert_eq!(err.code(), vigil_wire::end::ErrorCode::DesktopTooLarge);
        assert_eq!(
            err.to_string(),
            "the server's desktop size 65535x65535 is over the relay's limit of 5120x2880"
        );
        for bad in [(5121, 2880), (5120, 2881)] {
            assert!(matches!(
                DesktopSize::check_server_answer(bad.0, bad.1),
                Err(StreamError::DesktopTooLarge { .. })
            ));
        }
        for bad in [(0, 768), (1024, 0), (0, 0)] {
            assert!(matches!(
                DesktopSize::check_server_answer(bad.0, bad.1),
                Err(StreamError::DesktopEmpty { .. })
            ));
        }
    }
}
