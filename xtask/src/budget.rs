//! The size budget: `cargo xtask dist` fails when a file's brotli size passes its budget,
//! so a change that grows what the browser downloads is caught by CI.
//!
//! Budgets are the brotli (quality 11) sizes of the benchmark bundle (`--bench`, the larger
//! of the two) on 2 December 2026, plus about 10 % (at least 1 KiB), rounded up to KiB.
//! Raise one on purpose, in the same change that grows the file.

const KIB: u64 = 1024;

/// (file before hashing, budget in bytes of its brotli copy), each with its size when set.
pub const BUDGETS: &[(&str, u64)] = &[
    ("vigil_app_bg.wasm", 467 * KIB),          // 434320
    ("vigil_decode_worker_bg.wasm", 88 * KIB), // 81782
    ("vigil_app.js", 11 * KIB),                // 9823
    ("vigil_decode_worker.js", 5 * KIB),       // 3270
    ("xterm.js", 107 * KIB),                   // 99337
    ("xterm.css", 3 * KIB),                    // 1941
    ("addon-fit.js", 2 * KIB),                 // 544
    ("base.css", 3 * KIB),                     // 1439
    ("pages.css", 3 * KIB),                    // 1226
    ("terminal.css", 3 * KIB),                 // 1818
    ("boot.js", 2 * KIB),                      // 350
    ("decode-worker.js", 2 * KIB),             // 259
    ("favicon.svg", 2 * KIB),                  // 214
    ("index.html", 2 * KIB),                   // 438
    ("login.html", 2 * KIB),                   // 667
    ("login.js", 3 * KIB),                     // 1956
    ("login.css", 2 * KIB),                    // 250
];

/// A file whose brotli copy is over its budget, or that has none.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum Over {
    #[error(
        "{file}: {size} bytes brotli, over its budget of {budget} bytes (xtask/src/budget.rs)"
    )]
    Budget {
        file: String,
        size: u64,
        budget: u64,
    },
    #[error("{file}: {size} bytes brotli and no budget: add one to xtask/src/budget.rs")]
    Unbudgeted { file: String, size: u64 },
}

/// Checks each (file before hashing, brotli size) against [`BUDGETS`].
pub fn check<'a>(sizes: impl IntoIterator<Item = (&'a str, u64)>) -> Vec<Over> {
    check_against(BUDGETS, sizes)
}

fn check_against<'a>(
    budgets: &[(&str, u64)],
    sizes: impl IntoIterator<Item = (&'a str, u64)>,
) -> Vec<Over> {
    sizes
        .into_iter()
        .filter_map(
            |(file, size)| match budgets.iter().find(|(name, _)| *name == file) {
                Some(&(_, budget)) if size > budget => Some(Over::Budget {
                    file: file.to_owned(),
                    size,
                    budget,
                }),
                Some(_) => None,
                None => Some(Over::Unbudgeted {
                    file: file.to_owned(),
                    size,
                }),
            },
        )
        .collect()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn a_file_past_its_budget_is_named_with_both_sizes() {
        let budgets = [("xterm.js", 100), ("boot.js", 10)];
        assert_eq!(
            check_against(&budgets, [("xterm.js", 100), ("boot.js", 9)]),
            vec![]
        );
        let over = check_against(&budgets, [("xterm.js", 101), ("new.js", 5)]);
        assert_eq!(
            over,
            vec![
                Over::Budget {
                    file: "xterm.js".into(),
                    size: 101,
                    budget: 100
                },
                Over::Unbudgeted {
                    file: "new.js".into(),
                    size: 5
                }
            ]
        );
        assert!(over[0]
            .to_string()
            .contains("101 bytes brotli, over its budget of 100"));
    }

    #[test]
    fn every_budget_is_set() {
        assert!(BUDGETS.iter().all(|(_, b)| *b > 0));
    }
}
