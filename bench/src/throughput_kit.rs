//! What `bench-throughput` computes without sockets: spotting the end of a bulk output
//! in a stream of chunks, and the figures it prints.

use std::time::Duration;

use crate::relay_kit::contains;

/// What the shell prints after the bulk output. The command types it as
/// `VIGIL_$((6*7))_END`, so the terminal's echo of the command line is not it.
pub const MARKER: &[u8] = b"VIGIL_42_END";

/// The shell command (with its Enter): `mib` MiB of zeros in base64 lines, then the marker.
pub fn bulk_command(mib: u64) -> String {
    format!(
        "head -c {} /dev/zero | base64; echo VIGIL_$((6*7))_END\r",
        mib * 1024 * 1024
    )
}

/// Spots a marker in output that arrives in chunks of any size, the marker possibly cut
/// across two of them, keeping only the marker's length of what came before.
#[derive(Debug, Clone)]
pub struct EndMarker {
    needle: Vec<u8>,
    tail: Vec<u8>,
    seen: bool,
}

impl EndMarker {
    pub fn new(needle: &[u8]) -> EndMarker {
        EndMarker {
            needle: needle.to_vec(),
            tail: Vec::with_capacity(needle.len() * 2),
            seen: false,
        }
    }

    /// Takes the next chunk; true once the marker has been seen (in this chunk or before).
    pub fn feed(&mut self, chunk: &[u8]) -> bool {
        if self.seen || self.needle.is_empty() {
            self.seen = true;
            return true;
        }
        let keep = self.needle.len() - 1;
        let before = std::mem::take(&mut self.tail);
        // The marker lies in the chunk, or straddles what came before and the chunk's head.
        let mut edge = before.clone();
        edge.extend_from_slice(&chunk[..chunk.len().min(keep)]);
        if contains(&edge, &self.needle) || contains(chunk, &self.needle) {
            self.seen = true;
            return true;
        }
        let mut joined = before;
        joined.extend_from_slice(&chunk[chunk.len().saturating_sub(keep)..]);
        self.tail = joined[joined.len().saturating_sub(keep)..].to_vec();
        false
    }
}

/// Bytes moved in a time.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rate {
    pub bytes: u64,
    pub elapsed: Duration,
}

impl Rate {
    /// Megabytes (10^6 bytes) per second; zero for no time at all.
    pub fn mb_per_s(&self) -> f64 {
        let s = self.elapsed.as_secs_f64();
        if s == 0.0 {
            0.0
        } else {
            self.bytes as f64 / 1e6 / s
        }
    }
}

/// How a path compares with its baseline: their rates' ratio, and whether it meets `goal`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Verdict {
    pub ratio: f64,
    pub goal: f64,
}

impl Verdict {
    pub fn of(path: Rate, baseline: Rate, goal: f64) -> Verdict {
        let base = baseline.mb_per_s();
        let ratio = if base == 0.0 {
            0.0
        } else {
            path.mb_per_s() / base
        };
        Verdict { ratio, goal }
    }

    pub fn met(&self) -> bool {
        self.ratio >= self.goal
    }

    /// `0.93× (goal ≥ 0.90×: met)`.
    pub fn line(&self) -> String {
        let word = if self.met() { "met" } else { "NOT met" };
        format!("{:.2}× (goal ≥ {:.2}×: {word})", self.ratio, self.goal)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_marker_is_found_whole_in_one_chunk() {
        let mut m = EndMarker::new(b"VIGIL_42_END");
        assert!(!m.feed(b"AAAA\r\n"));
        assert!(m.feed(b"xx VIGIL_42_END\r\n$ "));
        assert!(m.feed(b"more"), "stays seen");
    }

    #[test]
    fn the_marker_is_found_across_chunks_of_any_size() {
        let stream = b"AAAAAAAA\r\nBBBBBBBB\r\nVIGIL_42_END\r\n$ ";
        for size in 1..stream.len() {
            let mut m = EndMarker::new(b"VIGIL_42_END");
            let mut at = None;
            for (i, c) in stream.chunks(size).enumerate() {
                if m.feed(c) {
                    at = Some(i);
                    break;
                }
            }
            let end = stream.len() - 4; // the marker's last byte, plus one
            assert_eq!(at, Some((end - 1) / size), "chunks of {size}");
        }
    }

    #[test]
    fn the_typed_command_is_not_the_marker() {
        let mut m = EndMarker::new(b"VIGIL_42_END");
        for c in b"$ head -c 10 /dev/zero | base64; echo VIGIL_$((6*7))_END\r\n".chunks(3) {
            assert!(!m.feed(c));
        }
        assert!(!m.feed(b"AAAAAAAAAAAAAA==\r\nVIGIL_42_EN"));
        assert!(m.feed(b"D\r\n"));
    }

    #[test]
    fn the_bulk_command_echoes_without_its_marker() {
        let cmd = bulk_command(4);
        assert!(cmd.starts_with("head -c 4194304 /dev/zero | base64;"));
        assert!(cmd.ends_with('\r'));
        assert!(!EndMarker::new(MARKER).feed(cmd.as_bytes()));
        // What the shell prints for it: the arithmetic expanded.
        let printed = cmd.replace("$((6*7))", "42");
        assert!(EndMarker::new(MARKER).feed(printed.as_bytes()));
    }

    #[test]
    fn rates_are_megabytes_per_second() {
        let r = Rate {
            bytes: 50_000_000,
            elapsed: Duration::from_millis(500),
        };
        assert!((r.mb_per_s() - 100.0).abs() < 1e-9);
        let none = Rate {
            bytes: 1,
            elapsed: Duration::ZERO,
        };
        assert_eq!(none.mb_per_s(), 0.0);
    }

    #[test]
    fn the_verdict_compares_with_the_goal() {
        let base = Rate {
            bytes: 100_000_000,
            elapsed: Duration::from_secs(1),
        };
        let slower = Rate {
            bytes: 85_000_000,
            elapsed: Duration::from_secs(1),
        };
        let close = Rate {
            bytes: 95_000_000,
            elapsed: Duration::from_secs(1),
        };
        let v = Verdict::of(slower, base, 0.9);
        assert!((v.ratio - 0.85).abs() < 1e-9);
        assert!(!v.met());
        assert_eq!(v.line(), "0.85× (goal ≥ 0.90×: NOT met)");
        let v = Verdict::of(close, base, 0.9);
        assert!(v.met());
        assert_eq!(v.line(), "0.95× (goal ≥ 0.90×: met)");
    }
}
