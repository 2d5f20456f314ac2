//! One address for several accept loops: `count` listening sockets bound to the same
//! address with `SO_REUSEPORT`, so the kernel spreads new connections over them and each can
//! be served by its own thread and runtime (nginx's `reuseport` workers share a port the
//! same way). One socket is bound as [`tokio::net::TcpListener::bind`] binds it, with a longer
//! accept queue (`BACKLOG`).
//!
//! A socket with `SO_REUSEPORT` joins any group already listening on the address under the
//! same user, so a second node started on a busy port would quietly share its traffic. A plain
//! socket is bound first for that reason: it fails with `AddrInUse` while anything listens
//! there, as a one-socket bind does, and is closed before the group binds.

use std::io;
use std::net::{SocketAddr, TcpListener};

use socket2::{Domain, Protocol, Socket, Type};

/// Pending connections the kernel queues per socket before it drops new SYNs (the client
/// sends them again a second later, and that second is in whatever it measures). Linux caps
/// it at `net.core.somaxconn` (4,096 by default since 5.4), so this asks for the most the
/// host allows. tokio's `TcpListener::bind` asks for 1,024, which a whole CDN in one process
/// overflowed: thousands of client and upstream connects arrive in the first second of a
/// run while the accept loops wait for a busy core.
const BACKLOG: i32 = 65_535;

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

    /// Raises this process's soft limit of open files to its hard limit (a burst of
    /// connections needs more than the usual 1,024).
    fn raise_open_file_limit(needed: u64) {
        use rustix::process::{Resource, getrlimit, setrlimit};
        let mut limit = getrlimit(Resource::Nofile);
        if limit.current.is_some_and(|current| current < needed) {
            limit.current = limit.maximum;
            setrlimit(Resource::Nofile, limit).expect("the soft limit may rise to the hard one");
        }
        let current = getrlimit(Resource::Nofile).current;
        assert!(
            current.is_none_or(|current| current >= needed),
            "this test needs {needed} open files; the hard limit is {current:?}"
        );
    }

    #[test]
    fn a_burst_of_connects_beyond_tokios_backlog_waits_in_the_accept_queue() {
        // tokio's `TcpListener::bind` queues 1,024 (Linux then fits 1,025): the next SYN is
        // dropped and its connect waits a second for the retry.
        const BURST: usize = 1_200;
        raise_open_file_limit(BURST as u64 + 256);
        let listener = bind_listeners("127.0.0.1:0".parse().unwrap(), 1)
            .unwrap()
            .pop()
            .unwrap();
        let addr = listener.local_addr().unwrap();
        let mut clients = Vec::with_capacity(BURST);
        for n in 0..BURST {
            // Nothing accepts: each handshake completes only if the accept queue has room.
            match std::net::TcpStream::connect_timeout(&addr, std::time::Duration::from_millis(500))
            {
                Ok(client) => clients.push(client),
                Err(error) => panic!(
                    "connect {n} of {BURST} failed: {error} (net.core.somaxconn caps the queue)"
                ),
            }
        }
        assert_eq!(clients.len(), BURST);
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
