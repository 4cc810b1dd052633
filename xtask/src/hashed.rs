//! Content-hashed names: every file of the bundle except the pages (`index.html`,
//! `login.html`) and `robots.txt` becomes `name.<hash>.ext` (hash: the first 16 hex digits of the SHA-256 of its content,
//! taken after the names inside it are rewritten), and every reference to it is rewritten.
//!
//! Sans-IO: [`hash_names`] maps file names and contents to the renamed files; `dist` reads
//! and writes them.

use std::collections::BTreeMap;

use sha2::{Digest, Sha256};

/// Files that keep their names: the pages (always revalidated) and robots.txt.
pub const UNHASHED: &[&str] = &["index.html", "login.html", "robots.txt"];

/// The entry page; it refers to every hashed file it loads, and lists in `<meta>` entries
/// the files the app loads by URL.
pub const INDEX: &str = "index.html";

/// The login page, outside the app: it refers to the hashed files it loads, and to the
/// app's files it prefetches.
pub const LOGIN: &str = "login.html";

/// Which files each file refers to by name (besides index.html), in the order they must be
/// hashed: a file's references are rewritten before its own hash is taken.
pub const REFERENCES: &[(&str, &[&str])] = &[
    ("vigil_app.js", &["vigil_app_bg.wasm"]),
    ("vigil_decode_worker.js", &["vigil_decode_worker_bg.wasm"]),
    ("boot.js", &["vigil_app.js"]),
    ("decode-worker.js", &["vigil_decode_worker.js"]),
];

/// Files the app loads by URL: index.html lists their hashed names for it
/// (`app/src/assets.rs` reads them). xterm.js, its fit addon and stylesheet are among
/// them: the app loads them only when a terminal is about to open.
pub const APP_LOADS: &[&str] = &[
    "decode-worker.js",
    "favicon.svg",
    "xterm.js",
    "addon-fit.js",
    "xterm.css",
];

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum HashError {
    #[error("{file} should refer to {target}, but no quoted reference to it was found")]
    MissingReference { file: String, target: String },
    #[error("{0} is not in the bundle")]
    MissingFile(String),
    #[error("{INDEX} has no </head> to put the asset list before")]
    NoHead,
}

/// `name.ext` → `name.<first 16 hex of sha256>.ext`.
pub fn hashed_name(name: &str, content: &[u8]) -> String {
    let digest = Sha256::digest(content);
    let hex: String = digest.iter().take(8).map(|b| format!("{b:02x}")).collect();
    match name.rsplit_once('.') {
        Some((stem, ext)) => format!("{stem}.{hex}.{ext}"),
        None => format!("{name}.{hex}"),
    }
}

#[cfg(test)]
/// Whether a file name has the shape [`hashed_name`] gives.
pub fn is_hashed(name: &str) -> bool {
    let mut parts = name.rsplit('.');
    let (Some(_ext), Some(hash), Some(_stem)) = (parts.next(), parts.next(), parts.next()) else {
        return false;
    };
    hash.len() == 16 && hash.bytes().all(|b| b.is_ascii_hexdigit())
}

/// Rewrites the quoted references to `from` in `text` (`"/x"`, `'./x'`, `'x'`...) to `to`;
/// returns how many were rewritten.
fn rewrite(text: &mut String, from: &str, to: &str) -> usize {
    let mut count = 0;
    for quote in ['"', '\''] {
        for prefix in ["/", "./", ""] {
            let old = format!("{quote}{prefix}{from}{quote}");
            let n = text.matches(&old).count();
            if n > 0 {
                *text = text.replace(&old, &format!("{quote}{prefix}{to}{quote}"));
                count += n;
            }
        }
    }
    count
}

fn rewrite_all(
    file: &str,
    content: Vec<u8>,
    targets: &[&str],
    names: &BTreeMap<String, String>,
) -> Result<Vec<u8>, HashError> {
    let mut text = String::from_utf8_lossy(&content).into_owned();
    for target in targets {
        let to = names
            .get(*target)
            .ok_or_else(|| HashError::MissingFile((*target).to_owned()))?;
        if rewrite(&mut text, target, to) == 0 {
            return Err(HashError::MissingReference {
                file: file.to_owned(),
                target: (*target).to_owned(),
            });
        }
    }
    Ok(text.into_bytes())
}

/// A page with every quoted plain name of `names` rewritten to the hashed one.
fn rewrite_names(page: &[u8], names: &BTreeMap<String, String>) -> String {
    let mut text = String::from_utf8_lossy(page).into_owned();
    for (from, to) in names {
        rewrite(&mut text, from, to);
    }
    text
}

/// The bundle after hashing: new name → content, and plain name → new name.
#[derive(Debug)]
pub struct Hashed {
    pub files: BTreeMap<String, Vec<u8>>,
    pub names: BTreeMap<String, String>,
}

/// Renames every file but [`UNHASHED`] ones by content and rewrites the references:
/// those of [`REFERENCES`], then the pages' (every quoted plain name they hold), and
/// lists [`APP_LOADS`] in index.html.
pub fn hash_names(mut files: BTreeMap<String, Vec<u8>>) -> Result<Hashed, HashError> {
    let mut names = BTreeMap::new();
    let mut out = BTreeMap::new();
    // Leaves first (files that refer to nothing), then REFERENCES in order.
    let referring: Vec<&str> = REFERENCES.iter().map(|(f, _)| *f).collect();
    let leaves: Vec<String> = files
        .keys()
        .filter(|n| !UNHASHED.contains(&n.as_str()) && !referring.contains(&n.as_str()))
        .cloned()
        .collect();
    for name in leaves {
        let content = files.remove(&name).unwrap_or_default();
        let new = hashed_name(&name, &content);
        names.insert(name, new.clone());
        out.insert(new, content);
    }
    for (file, targets) in REFERENCES {
        let content = files
            .remove(*file)
            .ok_or_else(|| HashError::MissingFile((*file).to_owned()))?;
        let content = rewrite_all(file, content, targets, &names)?;
        let new = hashed_name(file, &content);
        names.insert((*file).to_owned(), new.clone());
        out.insert(new, content);
    }
    let login = files
        .remove(LOGIN)
        .ok_or_else(|| HashError::MissingFile(LOGIN.to_owned()))?;
    out.insert(LOGIN.to_owned(), rewrite_names(&login, &names).into_bytes());
    let index = files
        .remove(INDEX)
        .ok_or_else(|| HashError::MissingFile(INDEX.to_owned()))?;
    let mut text = rewrite_names(&index, &names);
    let mut list = String::new();
    for file in APP_LOADS {
        let to = names
            .get(*file)
            .ok_or_else(|| HashError::MissingFile((*file).to_owned()))?;
        list.push_str(&format!(
            "  <meta name=\"vigil-asset\" data-file=\"{file}\" content=\"/{to}\">\n"
        ));
    }
    let head = text.find("</head>").ok_or(HashError::NoHead)?;
    text.insert_str(head, &list);
    out.insert(INDEX.to_owned(), text.into_bytes());
    // What is left keeps its name (robots.txt).
    out.extend(files);
    Ok(Hashed { files: out, names })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn bundle() -> BTreeMap<String, Vec<u8>> {
        [
            ("index.html", "<head><link href=\"/base.css\"><script type=\"module\" src=\"/boot.js\"></script></head>"),
            ("base.css", "body{}"),
            ("robots.txt", "User-agent: *"),
            ("login.html", "<head><link href=\"/login.css\"><script type=\"module\" src=\"/login.js\"></script><meta name=\"vigil-prefetch\" content=\"/vigil_app_bg.wasm\"></head>"),
            ("login.css", ".l{}"),
            ("login.js", "fetch('/api/v1/me')"),
            ("xterm.css", ".x{}"),
            ("xterm.js", "var Terminal;"),
            ("addon-fit.js", "var FitAddon;"),
            ("favicon.svg", "<svg/>"),
            ("boot.js", "import init from './vigil_app.js';"),
            ("vigil_app.js", "new URL('vigil_app_bg.wasm', import.meta.url); \"./vigil_app_bg.js\""),
            ("vigil_app_bg.wasm", "\0asm"),
            ("decode-worker.js", "import init from './vigil_decode_worker.js';"),
            ("vigil_decode_worker.js", "new URL('vigil_decode_worker_bg.wasm', import.meta.url)"),
            ("vigil_decode_worker_bg.wasm", "\0asm2"),
        ]
        .into_iter()
        .map(|(n, c)| (n.to_owned(), c.as_bytes().to_vec()))
        .collect()
    }

    #[test]
    fn names_carry_the_hash_of_the_rewritten_content() {
        let h = hash_names(bundle()).unwrap();
        let app_js = &h.names["vigil_app.js"];
        let wasm = &h.names["vigil_app_bg.wasm"];
        assert!(is_hashed(app_js) && is_hashed(wasm), "{app_js} {wasm}");
        let content = String::from_utf8(h.files[app_js].clone()).unwrap();
        assert!(content.contains(&format!("new URL('{wasm}'")), "{content}");
        assert!(
            content.contains("\"./vigil_app_bg.js\""),
            "not a file: kept"
        );
        assert_eq!(app_js, &hashed_name("vigil_app.js", content.as_bytes()));
        let boot = String::from_utf8(h.files[&h.names["boot.js"]].clone()).unwrap();
        assert_eq!(boot, format!("import init from './{app_js}';"));
        assert!(h.files.contains_key("robots.txt") && !h.names.contains_key("robots.txt"));
    }

    #[test]
    fn index_links_the_hashed_files_and_lists_what_the_app_loads() {
        let h = hash_names(bundle()).unwrap();
        let index = String::from_utf8(h.files["index.html"].clone()).unwrap();
        assert!(index.contains(&format!("href=\"/{}\"", h.names["base.css"])));
        assert!(index.contains(&format!("src=\"/{}\"", h.names["boot.js"])));
        assert!(!index.contains("\"/boot.js\""));
        assert!(index.contains(&format!(
            "<meta name=\"vigil-asset\" data-file=\"decode-worker.js\" content=\"/{}\">",
            h.names["decode-worker.js"]
        )));
        // The terminal's files are listed for the app, never loaded by the page itself.
        for file in ["xterm.js", "addon-fit.js", "xterm.css"] {
            assert!(index.contains(&format!(
                "<meta name=\"vigil-asset\" data-file=\"{file}\" content=\"/{}\">",
                h.names[file]
            )));
            assert_eq!(index.matches(h.names[file].as_str()).count(), 1, "{file}");
        }
        let meta = index.find("vigil-asset").unwrap();
        assert!(meta < index.find("</head>").unwrap());
    }

    #[test]
    fn the_login_page_links_its_hashed_files_and_the_app_it_prefetches() {
        let h = hash_names(bundle()).unwrap();
        assert!(!h.names.contains_key("login.html"));
        let login = String::from_utf8(h.files["login.html"].clone()).unwrap();
        for (attr, file) in [
            ("href", "login.css"),
            ("src", "login.js"),
            ("content", "vigil_app_bg.wasm"),
        ] {
            assert!(is_hashed(&h.names[file]), "{file}");
            assert!(
                login.contains(&format!("{attr}=\"/{}\"", h.names[file])),
                "{login}"
            );
            assert!(!login.contains(&format!("\"/{file}\"")), "{login}");
        }
        assert!(
            !login.contains("vigil-asset"),
            "the app's list is index.html's"
        );
    }

    #[test]
    fn a_lost_reference_fails_the_build() {
        let mut b = bundle();
        b.insert("boot.js".into(), b"import init from './app.js';".to_vec());
        assert_eq!(
            hash_names(b).unwrap_err(),
            HashError::MissingReference {
                file: "boot.js".into(),
                target: "vigil_app.js".into()
            }
        );
    }

    #[test]
    fn hashed_shape() {
        assert!(is_hashed(&hashed_name("xterm.js", b"x")));
        assert!(!is_hashed("xterm.js") && !is_hashed("a.b.js") && !is_hashed("robots.txt"));
    }
}
