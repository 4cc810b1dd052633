//! The baseline: a bare TCP⇄WebSocket splice. A task accepts one browser-shaped WebSocket
//! and one TCP connection on loopback, then copies every read of the TCP side, unparsed,
//! into one binary frame (the wire codec's output frame, as the relay sends it) until EOF.
//! Each read takes at most `frame` bytes, so that the splice sends frames of the size the
//! relay sent (a WebSocket's cost is mostly per frame).

use anyhow::Result;
use futures_util::SinkExt;
use tokio::io::AsyncReadExt;
use tokio::net::TcpListener;
use tokio_tungstenite::tungstenite::Message;
use vigil_wire::codec::Frame;
use vigil_wire::live::ServerMsg;

/// A listening splice: where its source connects (TCP) and where its reader connects (WebSocket).
pub struct Splice {
    pub tcp_port: u16,
    pub ws_port: u16,
    pub task: tokio::task::JoinHandle<Result<()>>,
}

/// Starts a splice that wraps each read with `wrap` (terminal output, or a desktop PDU).
pub async fn start(frame: usize, wrap: fn(Vec<u8>) -> ServerMsg) -> Result<Splice> {
    let tcp = TcpListener::bind("127.0.0.1:0").await?;
    let ws = TcpListener::bind("127.0.0.1:0").await?;
    let (tcp_port, ws_port) = (tcp.local_addr()?.port(), ws.local_addr()?.port());
    let task = tokio::spawn(async move {
        // No TCP_NODELAY: the relay does not set it on browser sockets either.
        let (sock, _) = ws.accept().await?;
        let mut ws = tokio_tungstenite::accept_async(sock).await?;
        let (mut src, _) = tcp.accept().await?;
        let mut buf = vec![0u8; frame.max(1)];
        loop {
            let n = src.read(&mut buf).await?;
            if n == 0 {
                break;
            }
            let frame = match wrap(buf[..n].to_vec()).encode() {
                Frame::Binary(b) => Message::binary(b),
                Frame::Text(t) => Message::text(t),
            };
            ws.send(frame).await?;
        }
        ws.close(None).await.ok();
        Ok(())
    });
    Ok(Splice {
        tcp_port,
        ws_port,
        task,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use vigil_bench::relay_kit::next_msg;

    #[tokio::test]
    async fn the_splice_passes_every_byte_on_in_frames_no_larger_than_its_cap() -> Result<()> {
        let splice = start(1000, ServerMsg::Output).await?;
        let (mut reader, _) =
            tokio_tungstenite::connect_async(format!("ws://127.0.0.1:{}/", splice.ws_port)).await?;
        let mut src = tokio::net::TcpStream::connect(("127.0.0.1", splice.tcp_port)).await?;
        let sent: Vec<u8> = (0..50_000u32).map(|i| (i % 251) as u8).collect();
        tokio::io::AsyncWriteExt::write_all(&mut src, &sent).await?;
        drop(src);
        let mut got = Vec::new();
        while got.len() < sent.len() {
            match next_msg(&mut reader).await? {
                ServerMsg::Output(b) => {
                    assert!(!b.is_empty() && b.len() <= 1000, "a frame of {}", b.len());
                    got.extend(b);
                }
                other => panic!("{other:?}"),
            }
        }
        assert_eq!(got, sent);
        splice.task.await??;
        Ok(())
    }
}
