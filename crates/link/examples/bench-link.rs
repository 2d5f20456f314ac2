//! Link accuracy benchmark (run by `loadtest/bench-link.sh`).
//!
//! Measures how far real request/response exchanges through [`LinkConnector`] land from the
//! modelled RTT, on loopback under the real clock. The server runs in a child process (this
//! same program with `serve`) so each process stays under its file-descriptor limit.
//!
//! For each modelled RTT and concurrency level: open `concurrency` warm keep-alive
//! connections, then every connection runs `rounds` GETs, one per period, at a random phase,
//! so the offered load is `--rate` requests per second in total (two cores cannot serve an
//! unbounded rate, and queueing for the CPU is not what this measures). Each exchange's error
//! is `measured − modelled RTT`. The same run with a zero hop (plain sockets) is the
//! baseline: what hyper and the scheduler cost on this machine at that load.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use edgelab_common::body::{Body, full};
use edgelab_common::serve::{Handler, ServeOptions, serve};
use edgelab_common::shutdown::Shutdown;
use edgelab_link::{HopModel, LinkConnector};
use http_body_util::{BodyExt, Empty};
use hyper::body::Incoming;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

struct Ok200;

impl Handler for Ok200 {
    async fn handle(
        &self,
        _request: http::Request<Incoming>,
        _peer: SocketAddr,
    ) -> http::Response<Body> {
        http::Response::new(full("ok"))
    }
}

#[allow(clippy::print_stdout)]
fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(if args.first().map(String::as_str) == Some("serve") {
            1
        } else {
            2
        })
        .enable_all()
        .build()?;
    if args.first().map(String::as_str) == Some("serve") {
        return runtime.block_on(async {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
            println!("{}", listener.local_addr()?);
            let shutdown = Shutdown::new();
            serve(
                listener,
                Arc::new(Ok200),
                ServeOptions::default(),
                shutdown.clone(),
            )
            .await?;
            anyhow::Ok(())
        });
    }
    let rtts: Vec<u64> = arg(&args, "--rtt-ms", "5,50,250");
    let concurrency: Vec<usize> = arg(&args, "--concurrency", "1000,10000");
    let rounds: usize = arg::<usize>(&args, "--rounds", "3")[0];
    let rate: f64 = arg::<f64>(&args, "--rate", "5000")[0];

    let mut server = Command::new(std::env::current_exe()?)
        .arg("serve")
        .stdout(Stdio::piped())
        .spawn()?;
    let mut line = String::new();
    BufReader::new(server.stdout.take().expect("stdout is piped")).read_line(&mut line)?;
    let addr: SocketAddr = line.trim().parse()?;

    println!(
        "model_ms,concurrency,rate_per_s,exchanges,err_min_ms,err_p50_ms,err_p99_ms,err_max_ms,below_model,connect_err_p50_ms"
    );
    let result = runtime.block_on(async {
        for &n in &concurrency {
            // Baseline: plain sockets at the same load.
            println!("{}", measure(addr, Duration::ZERO, n, rounds, rate).await?);
            for &rtt_ms in &rtts {
                let rtt = Duration::from_millis(rtt_ms);
                println!("{}", measure(addr, rtt, n, rounds, rate).await?);
            }
        }
        anyhow::Ok(())
    });
    let _ = server.kill();
    let _ = server.wait();
    result
}

fn arg<T: std::str::FromStr>(args: &[String], name: &str, default: &str) -> Vec<T> {
    let value = args
        .iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .map_or(default, String::as_str);
    value
        .split(',')
        .filter_map(|v| v.trim().parse().ok())
        .collect()
}

fn pct(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

async fn measure(
    addr: SocketAddr,
    rtt: Duration,
    n: usize,
    rounds: usize,
    rate: f64,
) -> anyhow::Result<String> {
    // Each connection sends one request per period; n connections give `rate` per second.
    let period = Duration::from_secs_f64(n as f64 / rate).max(rtt * 2);
    let connector = LinkConnector::new(HopModel::fixed(rtt), 1);
    let client: Client<LinkConnector, Empty<bytes::Bytes>> = Client::builder(TokioExecutor::new())
        .pool_idle_timeout(Duration::from_secs(120))
        .build(connector);
    let uri: http::Uri = format!("http://{addr}/").parse()?;
    let start_gate = Arc::new(tokio::sync::Barrier::new(n));
    let mut tasks = Vec::with_capacity(n);
    for i in 0..n {
        let phase = period.mul_f64(i as f64 / n as f64);
        let client = client.clone();
        let uri = uri.clone();
        let gate = start_gate.clone();
        tasks.push(tokio::spawn(async move {
            // Warm the connection: connect (1 RTT) + first exchange (1 RTT).
            let started = Instant::now();
            client.get(uri.clone()).await?.into_body().collect().await?;
            let connect_err =
                started.elapsed().as_secs_f64() * 1000.0 - 2.0 * rtt.as_secs_f64() * 1000.0;
            gate.wait().await;
            let begin = tokio::time::Instant::now() + phase;
            let mut errors = Vec::with_capacity(rounds);
            for round in 0..rounds {
                tokio::time::sleep_until(begin + period * round as u32).await;
                let started = Instant::now();
                client.get(uri.clone()).await?.into_body().collect().await?;
                errors.push((started.elapsed().as_secs_f64() - rtt.as_secs_f64()) * 1000.0);
            }
            anyhow::Ok((connect_err, errors))
        }));
    }
    let mut errors = Vec::with_capacity(n * rounds);
    let mut connects = Vec::with_capacity(n);
    for task in tasks {
        let (connect, e) = task.await??;
        connects.push(connect);
        errors.extend(e);
    }
    errors.sort_by(f64::total_cmp);
    connects.sort_by(f64::total_cmp);
    let below = errors.iter().filter(|e| **e < 0.0).count();
    Ok(format!(
        "{},{},{:.0},{},{:.3},{:.3},{:.3},{:.3},{},{:.3}",
        rtt.as_millis(),
        n,
        n as f64 / period.as_secs_f64(),
        errors.len(),
        errors[0],
        pct(&errors, 0.5),
        pct(&errors, 0.99),
        errors[errors.len() - 1],
        below,
        pct(&connects, 0.5),
    ))
}
