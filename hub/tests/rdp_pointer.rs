//! Cursor shapes through the hub against real RDP servers (`scripts/targets/start-xrdp.sh`,
//! `start-shadow.sh`): the user's stream carries the server's pointer shapes as fast-path
//! pointer updates, a late observer's snapshot replays the current one, and the user's mouse
//! moves reach observers (not the user) as pointer positions, except while locked. Decoding
//! is done as a browser does: IronRDP's fast-path processor with the server pointer on and
//! no software rendering.

use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::{ensure, Context, Result};
use ironrdp_core::WriteBuf;
use ironrdp_session::fast_path::{Processor, UpdateKind};
use ironrdp_session::image::DecodedImage;
use tokio::sync::mpsc;
use vigil_hub::{Attachment, Hub, HubConfig, RdpCodec};
use vigil_rdp::SessionParams;
use vigil_wire::desktop::InputEvent;
use vigil_wire::live::{ClientControl, ClientMsg, Participant, ServerControl, ServerMsg};
use vigil_wire::recording::{Kind, Reader};

mod rdp_support;
use rdp_support::{pump, pump_until, snapshot_pdus, spec, Pumped, Server, PASSWORD};

/// Fast-path pointer update codes (MS-RDPBCGR 2.2.9.1.2.1) and their names.
fn pointer_kind(code: u8) -> Option<&'static str> {
    Some(match code {
        0x5 => "null",
        0x6 => "default",
        0x8 => "position",
        0x9 => "color",
        0xA => "cached",
        0xB => "new",
        0xC => "large",
        _ => return None,
    })
}

/// Pointer updates seen in a fast-path stream, reassembled: (kind, bytes, fragments).
#[derive(Default)]
struct PointerLog {
    frag: Option<(u8, usize, usize)>,
    updates: Vec<(&'static str, usize, usize)>,
}

impl PointerLog {
    /// Walks the update headers of one fast-path output PDU (no decoding).
    fn scan(&mut self, pdu: &[u8]) {
        let mut i = if pdu.get(1).is_some_and(|b| b & 0x80 != 0) {
            3
        } else {
            2
        };
        while let Some(&header) = pdu.get(i) {
            let (code, frag) = (header & 0x0f, (header >> 4) & 0x03);
            // FASTPATH_OUTPUT_COMPRESSION_USED: a compressionFlags byte follows.
            i += if header >> 6 & 0x02 != 0 { 2 } else { 1 };
            let Some(size) = pdu
                .get(i..i + 2)
                .map(|b| usize::from(u16::from_le_bytes([b[0], b[1]])))
            else {
                return;
            };
            i += 2 + size;
            match frag {
                0 => self.done(code, size, 1),
                2 => self.frag = Some((code, size, 1)),
                3 => {
                    if let Some(f) = self.frag.as_mut() {
                        f.1 += size;
                        f.2 += 1;
                    }
                }
                _ => {
                    if let Some((code, total, n)) = self.frag.take() {
                        self.done(code, total + size, n + 1);
                    }
                }
            }
        }
    }

    fn done(&mut self, code: u8, size: usize, fragments: usize) {
        if let Some(kind) = pointer_kind(code) {
            self.updates.push((kind, size, fragments));
        }
    }

    fn shapes(&self) -> usize {
        self.updates
            .iter()
            .filter(|u| matches!(u.0, "color" | "new" | "large"))
            .count()
    }

    /// "kind: count (sizes…, fragmented n)" per kind.
    fn summary(&self) -> String {
        let mut by_kind: BTreeMap<&str, Vec<(usize, usize)>> = BTreeMap::new();
        for (kind, size, n) in &self.updates {
            by_kind.entry(kind).or_default().push((*size, *n));
        }
        by_kind
            .iter()
            .map(|(kind, v)| {
                let mut sizes: Vec<usize> = v.iter().map(|x| x.0).collect();
                sizes.sort_unstable();
                sizes.dedup();
                let fragmented = v.iter().filter(|x| x.1 > 1).count();
                format!(
                    "{kind}: {} (bytes {sizes:?}, fragmented {fragmented})",
                    v.len()
                )
            })
            .collect::<Vec<_>>()
            .join("; ")
    }
}

/// The pointer a browser shows: size, hotspot and pixels.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Shown {
    Hidden,
    Default,
    Bitmap {
        width: u16,
        height: u16,
        hotspot: (u16, u16),
        rgba: Vec<u8>,
    },
}

impl Shown {
    fn describe(shown: Option<&Shown>) -> String {
        match shown {
            Some(Shown::Bitmap {
                width,
                height,
                hotspot,
                ..
            }) => format!("{width}x{height} bitmap, hotspot {hotspot:?}"),
            other => format!("{other:?}"),
        }
    }
}

/// The pointer shown and its position, if any.
type Seen = (Option<Shown>, Option<(u16, u16)>);

/// A browser: a fresh decoder per activation, pointer state as the page would keep it.
struct FakeBrowser {
    att: Attachment,
    decoder: Option<(Processor, DecodedImage)>,
    activations: usize,
    snapshots: usize,
    shown: Option<Shown>,
    /// What the last snapshot alone left the decoder showing, and where.
    from_snapshot: Option<Seen>,
    /// Positions from live graphics (not from snapshots).
    positions: Vec<(u16, u16)>,
    log: PointerLog,
    errors: usize,
    ended: bool,
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
    fn new(att: Attachment) -> FakeBrowser {
        FakeBrowser {
            att,
            decoder: None,
            activations: 0,
            snapshots: 0,
            shown: None,
            from_snapshot: None,
            positions: Vec::new(),
            log: PointerLog::default(),
            errors: 0,
            ended: false,
        }
    }

    /// Decodes one PDU; returns the last position it carried.
    fn decode(&mut self, pdu: &[u8]) -> Option<(u16, u16)> {
        let (processor, image) = self.decoder.as_mut()?;
        let mut out = WriteBuf::new();
        let Ok(updates) = processor.process(image, pdu, &mut out, &mut None) else {
            self.errors += 1;
            return None;
        };
        let mut position = None;
        for update in updates {
            match update {
                UpdateKind::PointerHidden => self.shown = Some(Shown::Hidden),
                UpdateKind::PointerDefault => self.shown = Some(Shown::Default),
                UpdateKind::PointerPosition { x, y } => position = Some((x, y)),
                UpdateKind::PointerBitmap(p) => {
                    self.shown = Some(Shown::Bitmap {
                        width: p.width,
                        height: p.height,
                        hotspot: (p.hotspot_x, p.hotspot_y),
                        rgba: p.bitmap_data.clone(),
                    })
                }
                _ => {}
            }
        }
        position
    }

    async fn handle(&mut self, msg: ServerMsg) -> Result<()> {
        match msg {
            ServerMsg::Control(ServerControl::DesktopActivated { params }) => {
                self.activations += 1;
                self.shown = None;
                self.decoder = Some(vigil_rdp::screen::decoder(&SessionParams {
                    io_channel_id: params.io_channel_id,
                    user_channel_id: params.user_channel_id,
                    share_id: params.share_id,
                    width: params.width,
                    height: params.height,
                    input_flags: 0,
                }));
            }
            ServerMsg::DesktopSnapshot(z) => {
                self.snapshots += 1;
                let mut position = None;
                for pdu in snapshot_pdus(&z)? {
                    position = self.decode(&pdu).or(position);
                }
                self.from_snapshot = Some((self.shown.clone(), position));
            }
            ServerMsg::Graphics { frame_end, pdu } => {
                self.log.scan(&pdu);
                if let Some(position) = self.decode(&pdu) {
                    self.positions.push(position);
                }
                if let (Some(frame_id), Some(input)) = (frame_end, &self.att.input) {
                    let _ = input
                        .send(ClientMsg::Control(ClientControl::FrameDecoded { frame_id }))
                        .await;
                }
            }
            ServerMsg::Control(ServerControl::Ended { .. }) => self.ended = true,
            _ => {}
        }
        Ok(())
    }

    async fn point(&self, x: u16, y: u16) -> Result<()> {
        let input = self.att.input.as_ref().context("not the user")?;
        input
            .send(ClientMsg::Control(ClientControl::Input {
                events: vec![InputEvent::MouseMove { x, y }],
            }))
            .await?;
        Ok(())
    }
}

/// The recording's graphics payloads.
fn recorded_graphics(path: &std::path::Path) -> Result<Vec<Vec<u8>>> {
    let data = std::fs::read(path)?;
    let mut reader = Reader::file(&data)?;
    let mut out = Vec::new();
    while let Some(r) = reader.next_record()? {
        if r.kind == Kind::Graphics {
            out.push(r.payload.to_vec());
        }
    }
    Ok(out)
}

/// Spots over the typing xterm and over the bare root window (both servers' desktops lay
/// them out the same way): the X server shows a different cursor over each.
const OVER_XTERM: (u16, u16) = (300, 200);
const OVER_ROOT: (u16, u16) = (800, 300);

/// One session: shapes reach the user, a late observer's snapshot shows the user's current
/// pointer, user moves reach the observer and the recording as positions, never the user,
/// and not while locked. Returns what the user's stream carried, for the log.
async fn pointer_session(server: &Server, label: &str) -> Result<String> {
    let dir = tempfile::tempdir()?;
    let (tx, mut lifecycle) = mpsc::unbounded_channel();
    tokio::spawn(async move { while lifecycle.recv().await.is_some() {} });
    let hub = Hub::new(HubConfig::new(dir.path().join("recordings")), tx);
    let id = format!("pointer-{label}");
    hub.launch(spec(&id, server, PASSWORD, RdpCodec::RemoteFx))?;
    let mut user = FakeBrowser::new(hub.attach(&id, Participant::User).context("attach")?);
    let activated = pump_until(&mut [&mut user], Duration::from_secs(30), |v| {
        v[0].activations > 0 || v[0].ended
    })
    .await?;
    ensure!(activated && !user.ended, "[{label}] no activation");
    // Servers send a shape when the X cursor changes, i.e. when the pointer crosses into a
    // client window, and the X session may still be starting its clients (on a loaded
    // machine, tens of seconds): keep crossing between the xterm and the root window until a
    // shape arrives.
    let deadline = std::time::Instant::now() + Duration::from_secs(45);
    let mut shapes_seen = false;
    let mut last_spot = OVER_XTERM;
    for spot in [OVER_XTERM, OVER_ROOT].into_iter().cycle() {
        user.point(spot.0, spot.1).await?;
        last_spot = spot;
        shapes_seen = pump_until(&mut [&mut user], Duration::from_millis(700), |v| {
            v[0].log.shapes() > 0 && matches!(v[0].shown, Some(Shown::Bitmap { .. }))
        })
        .await?;
        if shapes_seen || std::time::Instant::now() > deadline {
            break;
        }
    }
    let summary = user.log.summary();
    println!(
        "[{label}] user's stream: {summary}; showing {}",
        Shown::describe(user.shown.as_ref())
    );
    ensure!(
        shapes_seen,
        "[{label}] no pointer shape reached the user: {summary}"
    );
    ensure!(user.errors == 0, "[{label}] user decode errors");
    // A crossing can set off more than one shape (the X session's clients still starting):
    // let them arrive before the observer joins, so that its snapshot and what the user's
    // stream has shown describe the same moment. (A shape sent while the observer waits for
    // its snapshot reaches the user first and the observer after the snapshot.)
    let mut shapes = user.log.shapes();
    for _ in 0..10 {
        pump(&mut [&mut user], Duration::from_millis(500)).await?;
        if user.log.shapes() == shapes {
            break;
        }
        shapes = user.log.shapes();
    }

    // A late observer: its snapshot alone shows the user's current pointer. The X session
    // may still change the cursor while the observer waits for its picture (the session's
    // task makes it on its next turn): the user then gets the new shape live, and the
    // observer gets it live after its snapshot, so that join cannot be compared with the
    // user's pointer. It is made again, a few times at most.
    let mut joins = 0;
    let (mut observer, from_snapshot, snapshot_position) = loop {
        joins += 1;
        let shapes_before = user.log.shapes();
        let mut observer = FakeBrowser::new(
            hub.attach(&id, Participant::Observer)
                .context("attach observer")?,
        );
        pump_until(
            &mut [&mut user, &mut observer],
            Duration::from_secs(5),
            |v| v[1].snapshots > 0,
        )
        .await?;
        let (from_snapshot, snapshot_position) = observer
            .from_snapshot
            .clone()
            .context("no snapshot for the observer")?;
        // The user's stream catches up with the moment of the snapshot.
        pump(&mut [&mut user, &mut observer], Duration::from_millis(500)).await?;
        if user.log.shapes() == shapes_before || joins == 5 {
            break (observer, from_snapshot, snapshot_position);
        }
        println!("[{label}] a shape reached the user while the observer joined: joining again");
    };
    println!(
        "[{label}] late observer's snapshot: {}, position {snapshot_position:?}",
        Shown::describe(from_snapshot.as_ref())
    );
    ensure!(
        matches!(from_snapshot, Some(Shown::Bitmap { .. })),
        "[{label}] the snapshot shows no pointer bitmap"
    );
    ensure!(
        from_snapshot == user.shown,
        "[{label}] the snapshot's pointer ({}) is not the user's ({})",
        Shown::describe(from_snapshot.as_ref()),
        Shown::describe(user.shown.as_ref())
    );
    ensure!(
        snapshot_position == Some(last_spot),
        "[{label}] the snapshot's position is {snapshot_position:?}, not {last_spot:?}"
    );

    // The user points somewhere new: the observer sees it, the user's stream does not.
    let spot = (701, 345);
    user.point(spot.0, spot.1).await?;
    let seen = pump_until(
        &mut [&mut user, &mut observer],
        Duration::from_secs(3),
        |v| v[1].positions.contains(&spot),
    )
    .await?;
    pump(&mut [&mut user, &mut observer], Duration::from_millis(300)).await?;
    ensure!(
        seen,
        "[{label}] the observer never saw {spot:?}: {:?}",
        observer.positions
    );
    ensure!(
        !user.positions.contains(&spot),
        "[{label}] the user's own stream carried its position"
    );

    // Locked: the move goes nowhere, and no position is shown.
    hub.lock(&id)?;
    pump(&mut [&mut user, &mut observer], Duration::from_millis(300)).await?;
    let blocked = (555, 444);
    user.point(blocked.0, blocked.1).await?;
    pump(&mut [&mut user, &mut observer], Duration::from_secs(1)).await?;
    ensure!(
        !observer.positions.contains(&blocked),
        "[{label}] a position was injected while locked"
    );
    ensure!(observer.errors == 0, "[{label}] observer decode errors");

    hub.terminate(&id, "pointer checked".into())?;
    pump_until(
        &mut [&mut user, &mut observer],
        Duration::from_secs(5),
        |v| v.iter().all(|v| v.ended),
    )
    .await?;
    hub.shutdown().await;
    let recorded = recorded_graphics(&hub.desktop_recording_path(&id))?;
    let at = |p: (u16, u16)| vigil_rdp::pointer::position_pdu(p.0, p.1).expect("encode");
    ensure!(
        recorded.contains(&at(spot)),
        "[{label}] the recording lacks the user's position"
    );
    ensure!(
        !recorded.contains(&at(blocked)),
        "[{label}] the recording has a position from while locked"
    );
    println!(
        "[{label}] observer saw {} live positions; the user {}",
        observer.positions.len(),
        user.positions.len()
    );
    Ok(summary)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn xrdp_pointer_shapes_replay_and_positions() -> Result<()> {
    let server = Server::start("xrdp");
    pointer_session(&server, "xrdp").await.map(drop)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shadow_pointer_shapes_replay_and_positions() -> Result<()> {
    let server = Server::start("shadow");
    pointer_session(&server, "shadow").await.map(drop)
}
