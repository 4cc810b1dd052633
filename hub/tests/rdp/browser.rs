//! The simulated browsers of the hub's desktop tests: each decodes what it receives as a
//! real page would, and the pixels are compared with the relay's own screen.

use std::time::Instant;

use anyhow::{Context, Result};
use vigil_hub::Attachment;
use vigil_rdp::screen::differing_pixels;
use vigil_rdp::{Screen, SessionParams};
use vigil_wire::desktop::{DesktopParams, InputEvent};
use vigil_wire::end::{EndReason, ErrorCode};
use vigil_wire::live::{ClientControl, ClientMsg, ServerControl, ServerMsg};

use crate::rdp_support::{snapshot_pdus, Pumped};

/// A fresh decoder for activation values, as a browser builds one.
pub(crate) fn screen_for(params: &DesktopParams) -> Screen {
    Screen::new(&SessionParams {
        io_channel_id: params.io_channel_id,
        user_channel_id: params.user_channel_id,
        share_id: params.share_id,
        width: params.width,
        height: params.height,
        input_flags: 0,
    })
}

/// Pixels that are not black (a fresh decoder's picture is all black).
pub(crate) fn lit(rgba: &[u8]) -> usize {
    rgba.chunks_exact(4)
        .filter(|p| p[..3].iter().any(|&c| c != 0))
        .count()
}

/// A browser: decodes what it receives, reports frames when it is the user.
pub(crate) struct FakeBrowser {
    pub(crate) att: Attachment,
    pub(crate) screen: Option<Screen>,
    pub(crate) activations: usize,
    /// The size of every `DesktopActivated`, in order.
    pub(crate) sizes: Vec<(u16, u16)>,
    pub(crate) snapshots: usize,
    pub(crate) graphics: usize,
    /// (first message kinds) for the order check.
    pub(crate) first: Vec<&'static str>,
    pub(crate) keystrokes: Vec<String>,
    pub(crate) locked: Option<String>,
    pub(crate) ended: Option<EndReason>,
    pub(crate) error: Option<(ErrorCode, String)>,
    pub(crate) snapshot_at: Option<Instant>,
    /// While set, a digest of the picture after each frame end, by frame id (the last 256).
    pub(crate) frame_digests: Option<FrameDigests>,
}

/// Pictures compared by frame: after the same frame end, the user and an observer have
/// decoded the same updates, whatever each one's pace.
pub(crate) struct FrameDigests {
    pub(crate) trim: bool,
    pub(crate) digests: std::collections::VecDeque<(u32, u64)>,
}

impl FrameDigests {
    pub(crate) fn new(trim: bool) -> Option<Self> {
        Some(FrameDigests {
            trim,
            digests: std::collections::VecDeque::new(),
        })
    }

    pub(crate) fn record(&mut self, frame_id: u32, rgba: &[u8], width: usize) {
        if self.digests.len() == 256 {
            self.digests.pop_front();
        }
        self.digests
            .push_back((frame_id, digest(rgba, width, self.trim)));
    }

    /// The latest frame both logs hold, with each one's digest.
    pub(crate) fn latest_common(&self, other: &FrameDigests) -> Option<(u32, u64, u64)> {
        self.digests.iter().rev().find_map(|&(id, ours)| {
            other
                .digests
                .iter()
                .rev()
                .find(|&&(theirs_id, _)| theirs_id == id)
                .map(|&(_, theirs)| (id, ours, theirs))
        })
    }
}

/// FNV-1a over the picture, without the last row and column when `trim` (cheap in a debug
/// build, unlike SipHash).
pub(crate) fn digest(rgba: &[u8], width: usize, trim: bool) -> u64 {
    let stride = width * 4;
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    let mut eat = |bytes: &[u8]| {
        for chunk in bytes.chunks(8) {
            let mut word = [0u8; 8];
            word[..chunk.len()].copy_from_slice(chunk);
            h = (h ^ u64::from_le_bytes(word)).wrapping_mul(0x0100_0000_01b3);
        }
    };
    if !trim || stride == 0 {
        eat(rgba);
    } else {
        for row in rgba.chunks_exact(stride).take(rgba.len() / stride - 1) {
            eat(&row[..stride - 4]);
        }
    }
    h
}

impl Pumped for FakeBrowser {
    fn attachment(&mut self) -> &mut Attachment {
        &mut self.att
    }

    async fn handle(&mut self, msg: ServerMsg) -> Result<()> {
        FakeBrowser::handle(self, msg).await
    }
}

impl FakeBrowser {
    pub(crate) fn new(att: Attachment) -> FakeBrowser {
        FakeBrowser {
            att,
            screen: None,
            activations: 0,
            sizes: Vec::new(),
            snapshots: 0,
            graphics: 0,
            first: Vec::new(),
            keystrokes: Vec::new(),
            locked: None,
            ended: None,
            error: None,
            snapshot_at: None,
            frame_digests: None,
        }
    }

    pub(crate) async fn handle(&mut self, msg: ServerMsg) -> Result<()> {
        let kind = match &msg {
            ServerMsg::Graphics { .. } => "graphics",
            ServerMsg::DesktopSnapshot(_) => "snapshot",
            ServerMsg::Control(ServerControl::DesktopActivated { .. }) => "activated",
            ServerMsg::Control(_) => "control",
            _ => "other",
        };
        if self.first.len() < 8 {
            self.first.push(kind);
        }
        match msg {
            ServerMsg::Control(ServerControl::DesktopActivated { params }) => {
                self.activations += 1;
                self.sizes.push((params.width, params.height));
                self.screen = Some(screen_for(&params));
            }
            ServerMsg::DesktopSnapshot(z) => {
                self.snapshots += 1;
                let screen = self.screen.as_mut().context("snapshot before activation")?;
                for pdu in snapshot_pdus(&z)? {
                    screen.feed(&pdu);
                }
                self.snapshot_at.get_or_insert_with(Instant::now);
            }
            ServerMsg::Graphics { frame_end, pdu } => {
                self.graphics += 1;
                let screen = self.screen.as_mut().context("graphics before activation")?;
                screen.feed(&pdu);
                // The width from the activation: a user attached before it has no size.
                let width = self.sizes.last().map_or(0, |&(w, _)| usize::from(w));
                if let (Some(frame_id), Some(log)) = (frame_end, self.frame_digests.as_mut()) {
                    log.record(frame_id, screen.rgba(), width);
                }
                if let (Some(frame_id), Some(input)) = (frame_end, &self.att.input) {
                    let _ = input
                        .send(ClientMsg::Control(ClientControl::FrameDecoded { frame_id }))
                        .await;
                }
            }
            ServerMsg::Control(ServerControl::Keystroke { keystroke }) => {
                self.keystrokes.push(keystroke.key)
            }
            ServerMsg::Control(ServerControl::Locked { message }) => self.locked = Some(message),
            ServerMsg::Control(ServerControl::Unlocked) => self.locked = None,
            ServerMsg::Control(ServerControl::Ended { reason }) => self.ended = Some(reason),
            ServerMsg::Control(ServerControl::Error { code, message }) => {
                self.error = Some((code, message))
            }
            _ => {}
        }
        Ok(())
    }

    pub(crate) fn rgba(&self) -> &[u8] {
        self.screen.as_ref().map_or(&[], |s| s.rgba())
    }

    pub(crate) async fn send(&self, events: Vec<InputEvent>) -> Result<()> {
        let input = self.att.input.as_ref().context("not the user")?;
        input
            .send(ClientMsg::Control(ClientControl::Input { events }))
            .await?;
        Ok(())
    }
}

pub(crate) fn scancode(c: char) -> Option<u8> {
    let row = |s: &str, base: u8| {
        s.find(c)
            .and_then(|i| u8::try_from(i).ok())
            .map(|i| base + i)
    };
    row("qwertyuiop", 0x10)
        .or_else(|| row("asdfghjkl", 0x1e))
        .or_else(|| row("zxcvbnm", 0x2c))
}

pub(crate) fn typing(word: &str) -> Vec<InputEvent> {
    let mut events = vec![InputEvent::MouseMove { x: 300, y: 200 }];
    for (text, sc) in word
        .chars()
        .filter_map(|c| scancode(c).map(|s| (c.to_string(), s)))
        .chain([("Enter".to_string(), 0x1c)])
    {
        for down in [true, false] {
            events.push(InputEvent::Key {
                scancode: sc,
                extended: false,
                down,
                key_text: Some(text.clone()),
            });
        }
    }
    events
}

pub(crate) fn unique_word(prefix: &str) -> String {
    let n = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let tail: String = format!("{n:09}")
        .chars()
        .map(|d| (b'a' + (d as u8 - b'0')) as char)
        .collect();
    format!("{prefix}{tail}")
}

/// Pixels that differ, ignoring the last row and column when `trim` (freerdp-shadow never
/// repaints them).
pub(crate) fn differ(a: &[u8], b: &[u8], width: usize, trim: bool) -> usize {
    if !trim || width == 0 {
        return differing_pixels(a, b);
    }
    let stride = width * 4;
    let rows = a.len() / stride;
    (0..rows.saturating_sub(1))
        .map(|y| {
            let r = y * stride..(y + 1) * stride - 4;
            differing_pixels(&a[r.clone()], &b[r])
        })
        .sum()
}
