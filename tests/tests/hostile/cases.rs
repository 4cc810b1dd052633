//! The hostile cases: how each fake target misbehaves, and how its session must end.

use super::*;

/// How a hostile session must end.
pub(crate) struct Expect {
    /// The error code its user is told and its end reason starts with (`None`: the target
    /// ends it without a fault of the protocol, e.g. by closing).
    pub(crate) code: Option<ErrorCode>,
    /// Words the end reason must hold, naming what went wrong.
    pub(crate) reason_has: &'static str,
    /// The session went live (a shell, a desktop) before the target misbehaved: proves the
    /// fake got as far as it means to.
    pub(crate) live_first: bool,
    /// How many malformed but framed PDUs the relay passes on to the user, the session
    /// staying live, before the one that ends it.
    pub(crate) tolerated: usize,
}

pub(crate) struct Case {
    pub(crate) name: &'static str,
    pub(crate) protocol: &'static str,
    pub(crate) port: u16,
    /// Given once the hostile session's stream shows its desktop (so that its user sees
    /// what comes next), and again once the tolerated PDUs reached the user; the fake
    /// waits for it before each step.
    pub(crate) cue: Option<fake_rdp::Cue>,
    pub(crate) expect: Expect,
}

/// What one hostile session did.
pub(crate) struct Outcome {
    /// The `Error` code its user was told, if any.
    pub(crate) error: Option<ErrorCode>,
    pub(crate) reason: EndReason,
    pub(crate) went_live: bool,
    pub(crate) took: Duration,
}

impl Outcome {
    /// What it ended with: the code its user was told, else the reason.
    pub(crate) fn shown(&self) -> String {
        self.error
            .map_or_else(|| self.reason.message.clone(), |c| c.to_string())
    }
}

pub(crate) fn ssh(name: &'static str, port: u16, expect: Expect) -> Case {
    Case {
        name,
        protocol: "ssh",
        port,
        cue: None,
        expect,
    }
}

/// A fake RDP server; those that misbehave once the desktop is up wait for their cue.
pub(crate) async fn rdp(name: &'static str, how: Misbehaviour, expect: Expect) -> Result<Case> {
    let (port, cue) = if expect.live_first {
        let (port, cue) = fake_rdp::serve_on_cue(how).await?;
        (port, Some(cue))
    } else {
        (fake_rdp::serve(how).await?, None)
    };
    Ok(Case {
        name,
        protocol: "rdp",
        port,
        cue,
        expect,
    })
}

pub(crate) fn expect(
    code: Option<ErrorCode>,
    reason_has: &'static str,
    live_first: bool,
) -> Expect {
    Expect {
        code,
        reason_has,
        live_first,
        tolerated: 0,
    }
}

/// Every misbehaviour but the one [`endless_big_fragments_cost_the_relay_under_50_mib`]
/// shows on its own.
pub(crate) async fn cases(live_sent: &Arc<AtomicUsize>) -> Result<Vec<Case>> {
    let live_flood = Shell::FloodLive {
        bytes: LIVE_FLOOD,
        sent: live_sent.clone(),
    };
    let flood_setup = Shell::FloodBeforeReady { bytes: SETUP_FLOOD };
    let broken = |how| fake_ssh::serve_broken(how);
    let huge = Misbehaviour::Desktop {
        width: 65535,
        height: 65535,
    };
    Ok(vec![
        ssh(
            "flood-setup",
            fake_ssh::serve(flood_setup, None).await?,
            expect(
                Some(ErrorCode::TargetFlood),
                "before the shell was ready",
                false,
            ),
        ),
        ssh(
            "flood-live",
            fake_ssh::serve(live_flood, None).await?,
            expect(None, "closed", true),
        ),
        ssh(
            "garbage",
            broken(Handshake::Garbage).await?,
            expect(Some(ErrorCode::TargetError), "handshake", false),
        ),
        ssh(
            "stall",
            broken(Handshake::Stall).await?,
            expect(Some(ErrorCode::TargetUnreachable), "did not answer", false),
        ),
        ssh(
            "half-packet",
            broken(Handshake::HalfPacket).await?,
            expect(Some(ErrorCode::TargetError), "handshake", false),
        ),
        rdp(
            "huge-desktop",
            huge,
            expect(Some(ErrorCode::DesktopTooLarge), "65535x65535", false),
        )
        .await?,
        rdp(
            "huge-desktop-reactivated",
            Misbehaviour::Reactivate {
                width: 65535,
                height: 65535,
            },
            expect(Some(ErrorCode::DesktopTooLarge), "65535x65535", true),
        )
        .await?,
        // Empty `Next` fragments: the bound on their count ends it.
        rdp(
            "endless-fragments",
            Misbehaviour::EndlessFragments { len: 0 },
            expect(Some(ErrorCode::TargetFlood), "fragmented update", true),
        )
        .await?,
        rdp(
            "malformed-pdus",
            Misbehaviour::Malformed,
            Expect {
                tolerated: fake_rdp::MALFORMED_FRAMED,
                ..expect(Some(ErrorCode::TargetError), "unframeable", true)
            },
        )
        .await?,
        rdp(
            "garbage",
            Misbehaviour::Garbage,
            expect(Some(ErrorCode::TargetError), "unframeable", true),
        )
        .await?,
        rdp(
            "stall",
            Misbehaviour::StallAfterTls,
            expect(Some(ErrorCode::TargetError), "timed out", false),
        )
        .await?,
        rdp(
            "half-pdu",
            Misbehaviour::HalfPdu,
            expect(None, "closed the connection", true),
        )
        .await?,
    ])
}

/// Checks one outcome against what its case expects.
pub(crate) fn check(case: &Case, outcome: &Outcome, end_reason: Option<&EndReason>) -> Result<()> {
    let e = &case.expect;
    if e.code.is_none() {
        ensure!(
            outcome.error.is_none(),
            "its user was told the error {:?} (reason {:?})",
            outcome.error,
            outcome.reason
        );
    }
    if let Some(code) = e.code {
        ensure!(
            outcome.error == Some(code),
            "its user was told the error {:?}, not {code} (reason {:?})",
            outcome.error,
            outcome.reason
        );
    }
    ensure!(
        outcome.reason.code == e.code,
        "the end reason {:?} does not carry the code {:?}",
        outcome.reason,
        e.code
    );
    ensure!(
        outcome.reason.message.contains(e.reason_has),
        "the end reason {:?} does not say {:?}",
        outcome.reason,
        e.reason_has
    );
    ensure!(
        outcome.went_live == e.live_first,
        "went live before it ended: {} (expected {}); reason {:?}",
        outcome.went_live,
        e.live_first,
        outcome.reason
    );
    ensure!(
        end_reason == Some(&outcome.reason),
        "the relay kept the end reason {end_reason:?}, its user was told {:?}",
        outcome.reason
    );
    Ok(())
}
