//! The delay line's logic under `tokio::time::pause`: virtual time, real sockets.
//!
//! With the clock paused the runtime jumps straight to the next timer when it is idle, so
//! these tests see exactly the modelled delays and check the logic, not the machine.

use std::time::Duration;

use edgelab_link::{DeliveryErrors, HopModel, LinkStream, PathClass};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::Instant;

const RTT: Duration = Duration::from_millis(50);

/// A server that, per connection, runs `script` on the accepted socket.
async fn server<F, Fut>(script: F) -> std::net::SocketAddr
where
    F: Fn(TcpStream) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((socket, _)) = listener.accept().await {
            tokio::spawn(script(socket));
        }
    });
    addr
}

async fn echo(mut socket: TcpStream) {
    let mut buf = [0u8; 1024];
    while let Ok(n) = socket.read(&mut buf).await {
        if n == 0 || socket.write_all(&buf[..n]).await.is_err() {
            break;
        }
    }
}

fn within(elapsed: Duration, expected: Duration) {
    assert!(
        elapsed >= expected && elapsed <= expected + Duration::from_millis(2),
        "elapsed {elapsed:?}, expected {expected:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn connect_costs_one_rtt_and_tls_one_more() {
    let addr = server(echo).await;
    let start = Instant::now();
    let _plain = LinkStream::connect(addr, HopModel::fixed(RTT), 1)
        .await
        .unwrap();
    within(start.elapsed(), RTT);

    let start = Instant::now();
    let tls = HopModel::fixed(RTT).with_tls(true);
    let _tls = LinkStream::connect(addr, tls, 1).await.unwrap();
    within(start.elapsed(), 2 * RTT);
}

#[tokio::test(start_paused = true)]
async fn each_exchange_costs_the_rtt_and_keep_alive_costs_no_handshake() {
    let addr = server(echo).await;
    let mut stream = LinkStream::connect(addr, HopModel::fixed(RTT), 1)
        .await
        .unwrap();
    for _ in 0..3 {
        let start = Instant::now();
        stream.write_all(b"ping").await.unwrap();
        let mut buf = [0u8; 4];
        stream.read_exact(&mut buf).await.unwrap();
        assert_eq!(&buf, b"ping");
        within(start.elapsed(), RTT);
    }
}

#[tokio::test(start_paused = true)]
async fn server_think_time_and_streaming_keep_their_shape() {
    let addr = server(|mut socket: TcpStream| async move {
        let mut buf = [0u8; 16];
        let _ = socket.read(&mut buf).await;
        tokio::time::sleep(Duration::from_millis(30)).await; // think
        let _ = socket.write_all(b"first").await;
        tokio::time::sleep(Duration::from_millis(100)).await; // stream gap
        let _ = socket.write_all(b"second").await;
    })
    .await;
    let mut stream = LinkStream::connect(addr, HopModel::fixed(RTT), 1)
        .await
        .unwrap();
    let start = Instant::now();
    stream.write_all(b"go").await.unwrap();
    let mut first = [0u8; 5];
    stream.read_exact(&mut first).await.unwrap();
    within(start.elapsed(), RTT + Duration::from_millis(30));
    let mut second = [0u8; 6];
    stream.read_exact(&mut second).await.unwrap();
    within(start.elapsed(), RTT + Duration::from_millis(130));
    assert_eq!((&first, &second), (b"first", b"second"));
}

#[tokio::test(start_paused = true)]
async fn end_of_stream_arrives_after_the_rtt_too() {
    let addr = server(|mut socket: TcpStream| async move {
        let _ = socket.write_all(b"bye").await;
        let _ = socket.shutdown().await;
    })
    .await;
    let tcp = TcpStream::connect(addr).await.unwrap();
    let start = Instant::now();
    let mut stream = LinkStream::new(tcp, HopModel::fixed(RTT), 1);
    let mut all = Vec::new();
    stream.read_to_end(&mut all).await.unwrap();
    assert_eq!(all, b"bye");
    within(start.elapsed(), RTT);
}

#[tokio::test(start_paused = true)]
async fn bodies_are_paced_by_bandwidth() {
    const SIZE: usize = 200_000;
    let addr = server(|mut socket: TcpStream| async move {
        let mut buf = [0u8; 16];
        let _ = socket.read(&mut buf).await;
        let _ = socket.write_all(&vec![7u8; SIZE]).await;
    })
    .await;
    let hop = HopModel {
        bandwidth_bytes_per_sec: Some(1_000_000),
        ..HopModel::fixed(RTT)
    };
    let mut stream = LinkStream::connect(addr, hop, 1).await.unwrap();
    let start = Instant::now();
    stream.write_all(b"go").await.unwrap();
    let mut body = vec![0u8; SIZE];
    stream.read_exact(&mut body).await.unwrap();
    // 200 kB at 1 MB/s = 200 ms on top of the RTT.
    let expected = RTT + Duration::from_millis(200);
    let elapsed = start.elapsed();
    assert!(
        elapsed >= expected && elapsed <= expected + Duration::from_millis(5),
        "{elapsed:?}"
    );
    assert!(body.iter().all(|b| *b == 7));
}

#[tokio::test(start_paused = true)]
async fn jitter_and_loss_are_seeded_and_never_faster_than_the_base() {
    let addr = server(echo).await;
    let hop = HopModel {
        jitter: Duration::from_millis(5),
        loss: 0.2,
        rto: Duration::from_millis(200),
        ..HopModel::fixed(RTT)
    };
    async fn run(addr: std::net::SocketAddr, hop: HopModel, seed: u64) -> Vec<Duration> {
        let tcp = TcpStream::connect(addr).await.unwrap();
        let mut stream = LinkStream::new(tcp, hop, seed);
        let mut times = Vec::new();
        for _ in 0..40 {
            let start = Instant::now();
            stream.write_all(b"x").await.unwrap();
            let mut buf = [0u8; 1];
            stream.read_exact(&mut buf).await.unwrap();
            times.push(start.elapsed());
        }
        times
    }
    let a = run(addr, hop, 11).await;
    let b = run(addr, hop, 11).await;
    let c = run(addr, hop, 12).await;
    // Timer granularity is 1 ms: compare in whole milliseconds.
    let ms = |v: &[Duration]| v.iter().map(|d| d.as_millis()).collect::<Vec<_>>();
    assert_eq!(ms(&a), ms(&b));
    assert_ne!(ms(&a), ms(&c));
    assert!(a.iter().all(|d| *d >= RTT));
    let lost = a
        .iter()
        .filter(|d| **d >= RTT + Duration::from_millis(200))
        .count();
    assert!((1..=20).contains(&lost), "{lost} of 40 paid an RTO");
}

#[tokio::test(start_paused = true)]
async fn zero_hop_is_a_plain_socket() {
    let addr = server(echo).await;
    let start = Instant::now();
    let mut stream = LinkStream::connect(addr, HopModel::ZERO, 1).await.unwrap();
    stream.write_all(b"hi").await.unwrap();
    let mut buf = [0u8; 2];
    stream.read_exact(&mut buf).await.unwrap();
    assert_eq!(start.elapsed(), Duration::ZERO);
    assert!(stream.hop().is_zero());
}

#[tokio::test(start_paused = true)]
async fn bodies_larger_than_the_line_arrive_whole_and_in_order() {
    const SIZE: usize = 3 * 1024 * 1024;
    let addr = server(|mut socket: TcpStream| async move {
        let mut buf = [0u8; 16];
        let _ = socket.read(&mut buf).await;
        let body: Vec<u8> = (0..SIZE).map(|i| (i % 251) as u8).collect();
        let _ = socket.write_all(&body).await;
        let _ = socket.shutdown().await;
    })
    .await;
    let mut stream = LinkStream::connect(addr, HopModel::fixed(RTT), 1)
        .await
        .unwrap();
    let start = Instant::now();
    stream.write_all(b"go").await.unwrap();
    let mut body = Vec::new();
    stream.read_to_end(&mut body).await.unwrap();
    assert_eq!(body.len(), SIZE);
    assert!(body.iter().enumerate().all(|(i, b)| *b == (i % 251) as u8));
    // The whole body fits in one window: it arrives one RTT after it was sent.
    let elapsed = start.elapsed();
    assert!(
        elapsed >= RTT && elapsed <= RTT + Duration::from_millis(2),
        "{elapsed:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn a_late_delivery_is_counted_as_emulation_error() {
    let addr = server(echo).await;
    let errors = DeliveryErrors::new();
    let tcp = TcpStream::connect(addr).await.unwrap();
    let mut stream = LinkStream::new(tcp, HopModel::fixed(RTT), 1)
        .with_delivery_errors(errors.clone(), PathClass::Backbone);
    let mut buf = [0u8; 4];

    // On time: the paused clock wakes the reader exactly at the release.
    stream.write_all(b"ping").await.unwrap();
    stream.read_exact(&mut buf).await.unwrap();
    let on_time = errors.summary(PathClass::Backbone);
    assert_eq!((on_time.count, on_time.max), (1, Duration::ZERO));

    // Late: the reply is queued and its reader waits; then the clock jumps 7 ms past the
    // release in one step, as on a host too busy to run the reader on time.
    stream.write_all(b"pong").await.unwrap();
    for _ in 0..1000 {
        tokio::select! {
            biased;
            read = stream.read(&mut buf) => panic!("delivered before its release: {read:?}"),
            () = std::future::ready(()) => {}
        }
        if stream.queued_bytes() > 0 {
            break;
        }
        tokio::task::yield_now().await;
    }
    assert_eq!(
        stream.queued_bytes(),
        4,
        "the reply is held by the delay line"
    );
    tokio::time::advance(RTT + Duration::from_millis(7)).await;
    stream.read_exact(&mut buf).await.unwrap();
    assert_eq!(&buf, b"pong");
    let late = errors.summary(PathClass::Backbone);
    assert_eq!(late.count, 2);
    let seven = Duration::from_millis(7);
    assert!(
        late.max.abs_diff(seven) <= seven / 500,
        "max lateness {:?}",
        late.max
    );
    assert_eq!(errors.summary(PathClass::Internet).count, 0);
}
