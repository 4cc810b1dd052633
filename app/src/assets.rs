//! The URLs of the bundle's files that the app loads by itself (not through index.html).
//!
//! `cargo xtask dist` gives every file a content-hashed name and lists the ones named here
//! in index.html, one `<meta name="vigil-asset" data-file="decode-worker.js"
//! content="/decode-worker.<hash>.js">` each, so the app never hard-codes a hashed name.
//! A page without the entry (a bundle built another way) falls back to the plain name.

/// A file of the bundle that the app refers to by URL.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Asset {
    /// The RDP decode worker's module script.
    DecodeWorker,
    /// The logo, shown on the top bar (the login page links it itself).
    Logo,
    /// xterm.js (its `Terminal` global), loaded when a terminal is about to open.
    Xterm,
    /// xterm.js's fit addon (its `FitAddon` global), loaded with xterm.js.
    XtermFit,
    /// xterm.js's stylesheet, loaded with xterm.js.
    XtermCss,
}

impl Asset {
    /// The file's name before hashing: the `data-file` of its `<meta>` entry.
    pub const fn file(self) -> &'static str {
        match self {
            Asset::DecodeWorker => "decode-worker.js",
            Asset::Logo => "favicon.svg",
            Asset::Xterm => "xterm.js",
            Asset::XtermFit => "addon-fit.js",
            Asset::XtermCss => "xterm.css",
        }
    }

    /// The selector of the file's entry in index.html.
    pub fn selector(self) -> String {
        format!("meta[name=\"vigil-asset\"][data-file=\"{}\"]", self.file())
    }

    /// The URL to load: the hashed name index.html lists, or `/<file>` without one.
    #[cfg(target_arch = "wasm32")]
    pub fn url(self) -> String {
        listed(&self.selector()).unwrap_or_else(|| format!("/{}", self.file()))
    }
}

#[cfg(target_arch = "wasm32")]
fn listed(selector: &str) -> Option<String> {
    let element = web_sys::window()?
        .document()?
        .query_selector(selector)
        .ok()??;
    element
        .get_attribute("content")
        .filter(|u| u.starts_with('/'))
}

#[cfg(test)]
mod tests {
    use super::Asset;

    #[test]
    fn selectors_name_the_plain_file() {
        assert_eq!(
            Asset::DecodeWorker.selector(),
            "meta[name=\"vigil-asset\"][data-file=\"decode-worker.js\"]"
        );
        assert_eq!(Asset::Logo.file(), "favicon.svg");
        assert_eq!(
            Asset::XtermCss.selector(),
            "meta[name=\"vigil-asset\"][data-file=\"xterm.css\"]"
        );
    }
}
