//! Running the `edgelab` binary in tests: spawn, read the `listening` line, stop.
#![allow(dead_code)] // each test module uses a different part

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// The `edgelab` binary built for these tests.
pub fn edgelab() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_edgelab"));
    command.env_remove("EDGELAB_LOG");
    command
}

/// Runs `edgelab ARGS` to completion with a time limit.
pub fn run(args: &[&str], limit: Duration) -> Output {
    run_env(args, &[], limit)
}

/// Runs `edgelab ARGS` with environment variables `env` to completion with a time limit.
pub fn run_env(args: &[&str], env: &[(&str, &str)], limit: Duration) -> Output {
    let mut child = edgelab()
        .args(args)
        .envs(env.iter().copied())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn edgelab");
    let start = Instant::now();
    loop {
        if child.try_wait().expect("poll edgelab").is_some() {
            return child.wait_with_output().expect("collect edgelab output");
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            let output = child.wait_with_output().expect("collect edgelab output");
            panic!(
                "edgelab {args:?} did not finish within {limit:?}; stderr:\n{}",
                String::from_utf8_lossy(&output.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A server subcommand running in the background; killed on drop.
pub struct Node {
    /// The child process.
    pub child: Child,
    /// Its traffic address.
    pub traffic: SocketAddr,
    /// Its admin address.
    pub admin: SocketAddr,
}

impl Node {
    /// Starts `edgelab ARGS` and waits for its `listening traffic=.. admin=..` line.
    pub fn start(args: &[&str]) -> Node {
        Node::spawn(edgelab().args(args).stderr(Stdio::inherit()))
    }

    /// Starts `command` (an [`edgelab`] command with its arguments, environment and standard
    /// error as the test wants them) with standard output piped, and waits for its
    /// `listening` line.
    pub fn spawn(command: &mut Command) -> Node {
        let mut child = command
            .stdout(Stdio::piped())
            .spawn()
            .expect("spawn edgelab");
        let stdout = child.stdout.take().expect("stdout is piped");
        let mut first = String::new();
        BufReader::new(stdout)
            .read_line(&mut first)
            .expect("read the listening line");
        let (traffic, admin) = parse_listening(&first).unwrap_or_else(|| {
            panic!(
                "unexpected first line from {:?}: {first:?}",
                command.get_args().collect::<Vec<_>>()
            )
        });
        Node {
            child,
            traffic,
            admin,
        }
    }

    /// Starts `edgelab COMMAND --listen 127.0.0.1:0 --admin 127.0.0.1:0 ARGS` (a server
    /// subcommand on free loopback ports) and waits for its `listening` line.
    pub fn loopback(command: &str, args: &[&str]) -> Node {
        Node::start(&loopback_args(command, args))
    }

    /// Sends SIGTERM and waits for the exit status (at most 10 s).
    pub fn terminate(mut self) -> std::process::ExitStatus {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let start = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().expect("poll edgelab") {
                return status;
            }
            assert!(
                start.elapsed() < Duration::from_secs(10),
                "edgelab did not stop within 10 s of SIGTERM"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `COMMAND --listen 127.0.0.1:0 --admin 127.0.0.1:0 ARGS`: a server subcommand's arguments
/// on free loopback ports.
pub fn loopback_args<'a>(command: &'a str, args: &[&'a str]) -> Vec<&'a str> {
    let mut all = vec![command, "--listen", "127.0.0.1:0", "--admin", "127.0.0.1:0"];
    all.extend_from_slice(args);
    all
}

/// Parses `listening traffic=ADDR admin=ADDR`.
pub fn parse_listening(line: &str) -> Option<(SocketAddr, SocketAddr)> {
    let rest = line.trim().strip_prefix("listening ")?;
    let mut traffic = None;
    let mut admin = None;
    for part in rest.split_whitespace() {
        if let Some(value) = part.strip_prefix("traffic=") {
            traffic = value.parse().ok();
        } else if let Some(value) = part.strip_prefix("admin=") {
            admin = value.parse().ok();
        }
    }
    Some((traffic?, admin?))
}

/// A blocking HTTP/1.1 GET over a fresh TCP connection (tests only): status line, headers
/// and body as text.
pub fn http_get(addr: SocketAddr, path: &str, headers: &[(&str, &str)]) -> (u16, String, Vec<u8>) {
    http_request(addr, "GET", path, headers)
}

/// A blocking HTTP/1.1 request with an empty body over a fresh TCP connection (tests only):
/// the status code, the response head as text and the body.
pub fn http_request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
) -> (u16, String, Vec<u8>) {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(addr).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("set timeout");
    let mut request = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    if method != "GET" && method != "HEAD" {
        request.push_str("Content-Length: 0\r\n");
    }
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("\r\n");
    stream.write_all(request.as_bytes()).expect("send request");
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).expect("read response");
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("response has a header block");
    let head = String::from_utf8_lossy(&raw[..split]).to_string();
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("status code");
    (status, head, raw[split + 4..].to_vec())
}

/// A fresh, empty directory for one test's files: `edgelab-cli-NAME-<pid>-<time>` under the
/// system's temporary directory (unique per call, so tests running at once never share one).
pub fn temp_dir(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "edgelab-cli-{name}-{}-{:?}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .expect("the clock is after 1970")
    ));
    std::fs::create_dir_all(&dir).expect("create the test directory");
    dir
}

/// A fresh [`temp_dir`] named `name` holding one file, `file`, with `contents`: the
/// directory (to remove at the end) and the file's path as text.
pub fn temp_file(name: &str, file: &str, contents: &str) -> (std::path::PathBuf, String) {
    let dir = temp_dir(name);
    let path = dir.join(file);
    std::fs::write(&path, contents).expect("write the test file");
    let path = path.to_str().expect("a UTF-8 temporary path").to_owned();
    (dir, path)
}

/// The path of `relative` in the repository (shipped configs, examples, data).
pub fn repo(relative: &str) -> String {
    format!("{}/../../{relative}", env!("CARGO_MANIFEST_DIR"))
}

/// The standard output of a run that must have succeeded; panics with both streams if not.
pub fn succeeded(output: &Output) -> String {
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "{:?}\nstdout:\n{stdout}\nstderr:\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
}

/// Both streams of a finished run, as text.
pub fn streams(output: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// The standard error of a run that must have exited with `code`; panics with both streams
/// if it did not.
pub fn exited(output: &Output, code: i32) -> String {
    let (stdout, stderr) = streams(output);
    assert_eq!(
        output.status.code(),
        Some(code),
        "stdout:\n{stdout}\nstderr:\n{stderr}"
    );
    stderr
}

/// The standard output of a run that must have succeeded, parsed as JSON (a
/// `serde_json::Value` or any type the document deserialises to).
pub fn json_stdout<T: serde::de::DeserializeOwned>(output: &Output) -> T {
    serde_json::from_str(&succeeded(output)).expect("JSON on standard output")
}

/// The JSON document a run wrote to `path`, parsed as [`json_stdout`] parses.
pub fn read_json<T: serde::de::DeserializeOwned>(path: impl AsRef<std::path::Path>) -> T {
    let path = path.as_ref();
    let text = std::fs::read_to_string(path)
        .unwrap_or_else(|error| panic!("read {}: {error}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|error| panic!("{}: {error}", path.display()))
}
