//! The decode worker's core, without IO: encoded [`ToWorker`] messages in, encoded
//! [`Update`]s (header + pixels) out. The wasm glue only moves buffers and reads the clock.

use crate::decoder::{append_opaque, coalesce, Decoder, Rect};
use crate::protocol::{DecodeStats, ProtocolError, ToWorker, Update};

#[derive(Default)]
pub struct Engine {
    decoder: Option<Decoder>,
    quiet: bool,
    stats: DecodeStats,
    dirty: Vec<Rect>,
}

impl Engine {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn stats(&self) -> DecodeStats {
        self.stats
    }

    /// Handles one message; returns the reply to post back, if any. `now` is a clock in ms.
    pub fn handle(
        &mut self,
        msg: &[u8],
        now: &mut dyn FnMut() -> f64,
    ) -> Result<Option<Vec<u8>>, ProtocolError> {
        let reply = match ToWorker::decode(msg)? {
            ToWorker::Activate(params) => {
                self.decoder = Some(Decoder::new(&params));
                self.dirty.clear();
                // Empty, but it tells the page the new size at the right point in the stream.
                self.reply(None, None)
            }
            ToWorker::Graphics { frame, pdu } => {
                if let Some(d) = self.decoder.as_mut() {
                    let t0 = now();
                    let ok = d.feed(pdu, &mut self.dirty).is_ok();
                    let ms = now() - t0;
                    let s = &mut self.stats;
                    s.pdus += 1;
                    s.frames += u64::from(frame.is_some());
                    s.errors += u64::from(!ok);
                    s.total_ms += ms;
                    s.max_ms = s.max_ms.max(ms);
                }
                self.drawn(frame)
            }
            ToWorker::Snapshot(zlib) => {
                if let Some(d) = self.decoder.as_mut() {
                    let t0 = now();
                    let ok = d.feed_snapshot(zlib, &mut self.dirty).is_ok();
                    let ms = now() - t0;
                    let s = &mut self.stats;
                    s.snapshots += 1;
                    s.snapshot_total_ms += ms;
                    s.errors += u64::from(!ok);
                    s.snapshot_max_ms = s.snapshot_max_ms.max(ms);
                }
                self.drawn(None)
            }
            ToWorker::Quiet(quiet) => {
                self.quiet = quiet;
                self.dirty.clear();
                (!quiet).then(|| self.whole()).flatten()
            }
            ToWorker::Fence(token) => self.reply(None, Some(token)),
            ToWorker::Redraw => (!self.quiet).then(|| self.whole()).flatten(),
        };
        Ok(reply)
    }

    /// After a decode: the dirty pixels (none while quiet), and the frame it ended.
    fn drawn(&mut self, frame: Option<u32>) -> Option<Vec<u8>> {
        if self.quiet {
            self.dirty.clear();
        }
        (frame.is_some() || !self.dirty.is_empty()).then(|| self.reply(frame, None))?
    }

    fn whole(&mut self) -> Option<Vec<u8>> {
        let full = self.decoder.as_ref()?.full();
        self.dirty.clear();
        self.dirty.push(full);
        self.reply(None, None)
    }

    /// Encodes an update carrying (and clearing) the dirty rectangles.
    fn reply(&mut self, frame: Option<u32>, fence: Option<u32>) -> Option<Vec<u8>> {
        coalesce(&mut self.dirty);
        let rects = std::mem::take(&mut self.dirty);
        let (width, height) = self
            .decoder
            .as_ref()
            .map_or((0, 0), |d| (d.width(), d.height()));
        let update = Update {
            width,
            height,
            frame,
            fence,
            stats: self.stats,
            rects,
        };
        let pixels: usize = update.pixel_lens().sum();
        let mut out =
            Vec::with_capacity(Update::FIXED_HEADER_LEN + 8 * update.rects.len() + pixels);
        update.encode_header(&mut out);
        if let Some(d) = &self.decoder {
            for r in &update.rects {
                append_opaque(d.rgba(), d.width(), *r, &mut out);
            }
        }
        let mut rects = update.rects;
        rects.clear();
        self.dirty = rects;
        Some(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use vigil_wire::desktop::DesktopParams;

    fn params(w: u16, h: u16) -> DesktopParams {
        DesktopParams {
            io_channel_id: 1003,
            user_channel_id: 1007,
            share_id: 0x0001_03ea,
            width: w,
            height: h,
        }
    }

    fn clock() -> impl FnMut() -> f64 {
        let mut t = 0.0;
        move || {
            t += 1.0;
            t
        }
    }

    fn run(e: &mut Engine, m: ToWorker<'_>) -> Option<(Update, Vec<u8>)> {
        let out = e
            .handle(&m.encode(), &mut clock())
            .expect("valid message")?;
        let fixed = &out[..Update::FIXED_HEADER_LEN];
        let len = Update::header_len(fixed).expect("header length");
        let u = Update::decode_header(&out[..len]).expect("header");
        let pixels = out[len..].to_vec();
        assert_eq!(pixels.len(), u.pixel_lens().sum::<usize>());
        Some((u, pixels))
    }

    /// The relay's snapshot of a blank screen, as sent to late joiners.
    fn relay_snapshot(w: u16, h: u16) -> Vec<u8> {
        let sp = vigil_rdp::SessionParams {
            io_channel_id: 1003,
            user_channel_id: 1007,
            share_id: 0x0001_03ea,
            width: w,
            height: h,
            input_flags: 0,
        };
        let pdus = vigil_rdp::Screen::new(&sp).snapshot().expect("snapshot");
        miniz_oxide::deflate::compress_to_vec_zlib(&pdus.concat(), 6)
    }

    #[test]
    fn snapshot_draws_the_whole_desktop_opaque() {
        let mut e = Engine::new();
        let (u, _) = run(&mut e, ToWorker::Activate(params(200, 130))).expect("size");
        assert_eq!((u.width, u.height, u.rects.len()), (200, 130, 0));
        let (u, pixels) = run(&mut e, ToWorker::Snapshot(&relay_snapshot(200, 130))).expect("draw");
        let bounds = u.rects.iter().copied().reduce(Rect::union).expect("rects");
        assert_eq!(
            bounds,
            Rect {
                x: 0,
                y: 0,
                w: 200,
                h: 130
            }
        );
        assert!(pixels.chunks_exact(4).all(|p| p[3] == 0xff));
        assert_eq!(e.stats().snapshots, 1);
        assert_eq!(e.stats().snapshot_max_ms, 1.0);
    }

    #[test]
    fn quiet_sends_nothing_until_it_ends_with_the_whole_picture() {
        let mut e = Engine::new();
        run(&mut e, ToWorker::Activate(params(64, 48)));
        assert!(run(&mut e, ToWorker::Quiet(true)).is_none());
        assert!(run(&mut e, ToWorker::Snapshot(&relay_snapshot(64, 48))).is_none());
        assert!(run(&mut e, ToWorker::Redraw).is_none());
        let (u, pixels) = run(&mut e, ToWorker::Quiet(false)).expect("whole picture");
        assert_eq!(
            u.rects,
            [Rect {
                x: 0,
                y: 0,
                w: 64,
                h: 48
            }]
        );
        assert_eq!(pixels.len(), 64 * 48 * 4);
    }

    #[test]
    fn frames_and_fences_are_echoed_even_when_nothing_changed() {
        let mut e = Engine::new();
        // Before any activation: nothing to decode, but the page still learns frame 5 passed.
        let (u, _) = run(
            &mut e,
            ToWorker::Graphics {
                frame: Some(5),
                pdu: &[0, 3, 0],
            },
        )
        .expect("frame echo");
        assert_eq!((u.frame, u.fence), (Some(5), None));
        run(&mut e, ToWorker::Activate(params(64, 48)));
        let (u, _) = run(&mut e, ToWorker::Fence(9)).expect("fence echo");
        assert_eq!((u.frame, u.fence, u.rects.len()), (None, Some(9), 0));
    }

    #[test]
    fn garbage_counts_as_an_error_and_bad_messages_are_refused() {
        let mut e = Engine::new();
        run(&mut e, ToWorker::Activate(params(64, 48)));
        assert!(run(
            &mut e,
            ToWorker::Graphics {
                frame: None,
                pdu: &[0, 1, 2],
            }
        )
        .is_none());
        assert!(run(&mut e, ToWorker::Snapshot(b"not zlib")).is_none());
        assert_eq!(e.stats().errors, 2);
        assert_eq!(e.stats().pdus, 1);
        assert_eq!(
            e.handle(&[0xee], &mut clock()),
            Err(ProtocolError::Tag(0xee))
        );
    }
}
