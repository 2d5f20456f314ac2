//! One address for several accept loops: `count` listening sockets bound to the same
//! address with `SO_REUSEPORT`, so the kernel spreads new connections over them and each can
//! be served by its own thread and runtime (nginx's `reuseport` workers share a port the
//! same way). One socket is bound as [`tokio::net::TcpListener::bind`] binds it.
//!
//! A socket with `SO_REUSEPORT` joins any group already listening on the address under the
//! same user, so a second node started on a busy port would quietly share its traffic. A plain
//! socket is bound first for that reason: it fails with `AddrInUse` while anything listens
//! there, as a one-socket bind does, and is closed before the group binds.

use std::io;
use std::net::{SocketAddr, TcpListener};

use socket2::{Domain, Protocol, Socket, Type};

/// Pending connections the kernel queues per socket (tokio's `TcpListener::bind` uses the
/// same).
const BACKLOG: i32 = 1024;

fn socket(addr: SocketAddr, reuse_port: bool) -> io::Result<Socket> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    // As tokio binds on Unix: a restarted node can take its port while old connections sit
    // in TIME_WAIT.
    socket.set_reuse_address(true)?;
    if reuse_port {
        socket.set_reuse_port(true)?;
    }
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    Ok(socket)
}

fn listen(socket: Socket) -> io::Result<TcpListener> {
    socket.listen(BACKLOG)?;
    Ok(socket.into())
}

/// `count` (at least one) non-blocking listening sockets on `addr`, all on the same port
/// (port 0 picks one free port for all). For a tokio runtime each is turned into a listener
/// with [`tokio::net::TcpListener::from_std`] inside that runtime.
pub fn bind_listeners(addr: SocketAddr, count: usize) -> io::Result<Vec<TcpListener>> {
    let probe = socket(addr, false)?;
    if count <= 1 {
        return Ok(vec![listen(probe)?]);
    }
    let addr = probe
        .local_addr()?
        .as_socket()
        .ok_or_else(|| io::Error::other("bound socket has no IP address"))?;
    drop(probe);
    (0..count)
        .map(|_| socket(addr, true).and_then(listen))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_group_shares_one_port_and_a_busy_port_is_refused() {
        let group = bind_listeners("127.0.0.1:0".parse().unwrap(), 3).unwrap();
        let ports: Vec<u16> = group
            .iter()
            .map(|l| l.local_addr().unwrap().port())
            .collect();
        assert_eq!(ports.len(), 3);
        assert!(ports.iter().all(|&p| p == ports[0] && p != 0), "{ports:?}");
        // Another group (or a single socket) on that address fails as a plain bind does.
        let busy = group[0].local_addr().unwrap();
        for count in [1, 2] {
            let error = bind_listeners(busy, count).unwrap_err();
            assert_eq!(error.kind(), io::ErrorKind::AddrInUse, "{count} sockets");
        }
        // Connections to the port reach the group's sockets.
        let clients: Vec<_> = (0..16)
            .map(|_| std::net::TcpStream::connect(busy).unwrap())
            .collect();
        let mut accepted = 0;
        for _ in 0..1_000 {
            accepted += group.iter().filter(|l| l.accept().is_ok()).count();
            if accepted == clients.len() {
                break;
            }
            std::thread::yield_now();
        }
        assert_eq!(accepted, clients.len());
    }

    #[test]
    fn one_socket_is_a_plain_listener() {
        let single = bind_listeners("127.0.0.1:0".parse().unwrap(), 1).unwrap();
        assert_eq!(single.len(), 1);
        let addr = single[0].local_addr().unwrap();
        let _client = std::net::TcpStream::connect(addr).unwrap();
        single[0].set_nonblocking(false).unwrap();
        assert!(single[0].accept().is_ok());
    }
}
