//! Precompressed copies: `<file>.br` (brotli, quality 11) and `<file>.gz` (gzip, best)
//! beside each compressible file, made once here so the relay only serves them.

use std::io::Write as _;

/// Extensions worth compressing (text and wasm); images other than SVG are not shipped.
const COMPRESSIBLE: &[&str] = &["wasm", "js", "css", "svg", "html"];

pub fn is_compressible(name: &str) -> bool {
    name.rsplit_once('.')
        .is_some_and(|(_, ext)| COMPRESSIBLE.contains(&ext))
}

pub fn brotli(bytes: &[u8]) -> std::io::Result<Vec<u8>> {
    let mut out = Vec::new();
    {
        // quality 11, window 22 (4 MiB): the wasm modules fit in one window.
        let mut w = brotli::CompressorWriter::new(&mut out, 64 * 1024, 11, 22);
        w.write_all(bytes)?;
        w.flush()?;
    }
    Ok(out)
}

pub fn gzip(bytes: &[u8]) -> std::io::Result<Vec<u8>> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    enc.write_all(bytes)?;
    enc.finish()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use std::io::Read as _;

    #[test]
    fn both_round_trip() {
        let text = "xterm ".repeat(1000);
        let br = brotli(text.as_bytes()).unwrap();
        let mut back = String::new();
        brotli::Decompressor::new(&br[..], 4096)
            .read_to_string(&mut back)
            .unwrap();
        assert_eq!(back, text);
        assert!(br.len() < 100);
        let gz = gzip(text.as_bytes()).unwrap();
        let mut back = String::new();
        flate2::read::GzDecoder::new(&gz[..])
            .read_to_string(&mut back)
            .unwrap();
        assert_eq!(back, text);
    }

    #[test]
    fn which_files() {
        assert!(is_compressible("vigil_app.0123456789abcdef.wasm"));
        assert!(is_compressible("index.html") && !is_compressible("robots.txt"));
    }
}
