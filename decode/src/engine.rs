//! The decode worker's core, without IO: encoded [`ToWorker`] messages in, encoded
//! [`Update`]s (header + pixels) out. The wasm glue only moves buffers and reads the clock.

use crate::decoder::{append_opaque, coalesce, Decoder, Rect, Shape};
use crate::protocol::{DecodeStats, PointerShape, ProtocolError, ToWorker, Update};

#[derive(Default)]
pub struct Engine {
    decoder: Option<Decoder>,
    quiet: bool,
    stats: DecodeStats,
    dirty: Vec<Rect>,
    /// The pointer as the page last heard of it.
    sent_shape: Option<Shape>,
    sent_at: Option<(u16, u16)>,
}

fn page_shape(s: &Shape) -> PointerShape {
    match s {
        Shape::Hidden => PointerShape::Hidden,
        Shape::Default => PointerShape::Default,
        Shape::Bitmap(p) => PointerShape::Bitmap {
            width: p.width,
            height: p.height,
            hot_x: p.hotspot_x,
            hot_y: p.hotspot_y,
            rgba: p.bitmap_data.clone(),
        },
    }
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
                (self.sent_shape, self.sent_at) = (None, None);
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

    /// After a decode: the dirty pixels and pointer changes (none while quiet), and the
    /// frame it ended.
    fn drawn(&mut self, frame: Option<u32>) -> Option<Vec<u8>> {
        if self.quiet {
            self.dirty.clear();
            return frame.and_then(|f| self.reply(Some(f), None));
        }
        let pointer_moved = self.decoder.as_ref().is_some_and(|d| {
            let p = d.pointer();
            p.position != self.sent_at
                || match (&p.shape, &self.sent_shape) {
                    (Some(a), Some(b)) => !a.same(b),
                    (a, b) => a.is_some() != b.is_some(),
                }
        });
        (frame.is_some() || pointer_moved || !self.dirty.is_empty())
            .then(|| self.reply(frame, None))?
    }

    /// The whole picture and the whole pointer state.
    fn whole(&mut self) -> Option<Vec<u8>> {
        let full = self.decoder.as_ref()?.full();
        self.dirty.clear();
        self.dirty.push(full);
        (self.sent_shape, self.sent_at) = (None, None);
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
        let (mut pointer, mut pointer_at) = (None, None);
        if let Some(p) = self.decoder.as_ref().map(Decoder::pointer) {
            if let Some(shape) = &p.shape {
                if !self.sent_shape.as_ref().is_some_and(|s| s.same(shape)) {
                    pointer = Some(page_shape(shape));
                    self.sent_shape = Some(shape.clone());
                }
            }
            if p.position.is_some() && p.position != self.sent_at {
                pointer_at = p.position;
                self.sent_at = p.position;
            }
        }
        let update = Update {
            width,
            height,
            frame,
            fence,
            stats: self.stats,
            rects,
            pointer,
            pointer_at,
        };
        let pixels: usize = update.pixel_lens().sum();
        let mut out = Vec::with_capacity(256 + 8 * update.rects.len() + pixels);
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
    use crate::decoder::tests::params;

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
        let len = Update::header_len(&out).expect("header length");
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

    /// A fast-path output PDU holding one unfragmented update.
    fn fast_path(code: u8, data: &[u8]) -> Vec<u8> {
        let len = 5 + data.len();
        let mut pdu = vec![0x00, u8::try_from(len).expect("short PDU"), code];
        pdu.extend(u16::try_from(data.len()).expect("short").to_le_bytes());
        pdu.extend(data);
        pdu
    }

    #[test]
    fn pointer_shapes_and_moves_reach_the_page_once_each() {
        let mut e = Engine::new();
        run(&mut e, ToWorker::Activate(params(64, 48)));
        // TS_COLORPOINTERATTRIBUTE: cache 0, hotspot (0,0), 1×1, 24 bpp, opaque red.
        let mut color = Vec::new();
        for v in [0u16, 0, 0, 1, 1, 2, 4] {
            color.extend(v.to_le_bytes());
        }
        color.extend([0x00, 0x00, 0xff, 0x00, 0x00, 0x00]);
        let (u, _) = run(
            &mut e,
            ToWorker::Graphics {
                frame: None,
                pdu: &fast_path(0x09, &color),
            },
        )
        .expect("shape");
        match u.pointer {
            Some(PointerShape::Bitmap {
                width: 1,
                height: 1,
                ref rgba,
                ..
            }) => assert_eq!(rgba.len(), 4),
            ref other => panic!("expected a 1×1 bitmap, got {other:?}"),
        }
        let at = fast_path(0x08, &[10, 0, 20, 0]);
        let (u, _) = run(
            &mut e,
            ToWorker::Graphics {
                frame: None,
                pdu: &at,
            },
        )
        .expect("position");
        assert_eq!((u.pointer.is_none(), u.pointer_at), (true, Some((10, 20))));
        // Nothing changed: nothing to send.
        assert!(run(
            &mut e,
            ToWorker::Graphics {
                frame: None,
                pdu: &at
            }
        )
        .is_none());
        let (u, _) = run(
            &mut e,
            ToWorker::Graphics {
                frame: None,
                pdu: &fast_path(0x05, &[]),
            },
        )
        .expect("hidden");
        assert_eq!(u.pointer, Some(PointerShape::Hidden));
        // A redraw (a canvas attached) repeats the whole pointer state.
        let (u, _) = run(&mut e, ToWorker::Redraw).expect("redraw");
        assert_eq!(
            (u.pointer, u.pointer_at),
            (Some(PointerShape::Hidden), Some((10, 20)))
        );
    }
}
