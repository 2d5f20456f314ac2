//! Headless Chromium driven over the DevTools protocol, for tests that press buttons in a
//! page (`--dump-dom` cannot click).
//!
//! [`Browser::open`] starts Chromium with a fresh profile and `--remote-debugging-port=0`,
//! reads the port it picked from the profile's `DevToolsActivePort`, opens one tab through
//! the browser's websocket (a flat session, `Target.attachToTarget`) and navigates it. Calls
//! are plain JSON messages over that socket; the console errors, uncaught exceptions and
//! error log entries the page produces on the way are collected ([`Browser::errors`]).
//! Waiting is polling with a deadline ([`Browser::wait_for`]), never a sleep.
//!
//! Written here rather than taken from a CDP crate: the tests need five protocol calls
//! (attach, navigate, evaluate, input events, screenshot) over one blocking websocket, and the
//! full-protocol clients (`chromiumoxide`, `headless_chrome`) bring the whole generated
//! protocol and their own runtime and download logic into every test build for them.

use std::io::ErrorKind;
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine;
use serde_json::{Value, json};
use tungstenite::stream::MaybeTlsStream;
use tungstenite::{Message, WebSocket};

/// How long one protocol call may take.
const CALL_LIMIT: Duration = Duration::from_secs(30);
/// How often [`Browser::wait_for`] asks again.
const POLL_EVERY: Duration = Duration::from_millis(50);

/// The flags every headless run of Chromium here starts with: no sandbox (root in a
/// container), no GPU, nothing that reaches the network on its own, no first-run UI.
pub const HEADLESS_FLAGS: [&str; 8] = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--hide-scrollbars",
];

/// The Chromium binary: `EDGELAB_CHROMIUM`, else `chromium` or `chromium-browser` on PATH.
pub fn chromium() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("EDGELAB_CHROMIUM") {
        return Some(PathBuf::from(path));
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .flat_map(|dir| [dir.join("chromium"), dir.join("chromium-browser")])
        .find(|candidate| candidate.is_file())
}

/// [`chromium`], or `None` with a message on standard error; panics when `CI=true`, where a
/// browser test must not skip.
#[expect(
    clippy::print_stderr,
    reason = "a skipped test says why on the test's output"
)]
pub fn chromium_or_skip(test: &str) -> Option<PathBuf> {
    let found = chromium();
    if found.is_none() {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "CI=true needs Chromium for {test} (apt-get install chromium)"
        );
        eprintln!(
            "skipped {test}: no chromium installed (set EDGELAB_CHROMIUM or install chromium)"
        );
    }
    found
}

/// Where browser tests leave pages and screenshots: `target/browser/` of the workspace.
pub fn artefact_dir() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR").map_or_else(
        || Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target"),
        PathBuf::from,
    );
    let dir = target.join("browser");
    std::fs::create_dir_all(&dir).expect("target/browser is writable");
    dir
}

/// One headless Chromium with one tab; killed (and its profile removed) on drop.
pub struct Browser {
    child: Child,
    profile: PathBuf,
    socket: WebSocket<MaybeTlsStream<TcpStream>>,
    session: String,
    next_id: u64,
    errors: Vec<String>,
}

impl Browser {
    /// Starts `binary` with a fresh profile at `profile` and a `width`×`height` window, and
    /// opens `url` in a tab.
    pub fn open(binary: &Path, profile: &Path, url: &str, (width, height): (u32, u32)) -> Browser {
        let _ = std::fs::remove_dir_all(profile);
        std::fs::create_dir_all(profile).expect("the profile directory can be made");
        let child = Command::new(binary)
            .args(HEADLESS_FLAGS)
            .args(["--remote-debugging-port=0", "--remote-allow-origins=*"])
            .arg(format!("--window-size={width},{height}"))
            .arg(format!("--user-data-dir={}", profile.display()))
            .arg("about:blank")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromium starts");
        let endpoint = devtools_endpoint(profile);
        let (socket, _) = tungstenite::connect(&endpoint).expect("the DevTools socket opens");
        if let MaybeTlsStream::Plain(stream) = socket.get_ref() {
            stream
                .set_read_timeout(Some(POLL_EVERY))
                .expect("a read timeout can be set");
        }
        let mut browser = Browser {
            child,
            profile: profile.to_path_buf(),
            socket,
            session: String::new(),
            next_id: 0,
            errors: Vec::new(),
        };
        let target = browser.call("Target.createTarget", json!({ "url": "about:blank" }));
        let target = target["targetId"]
            .as_str()
            .expect("a target id")
            .to_string();
        let attached = browser.call(
            "Target.attachToTarget",
            json!({ "targetId": target, "flatten": true }),
        );
        browser.session = attached["sessionId"]
            .as_str()
            .expect("a session id")
            .to_string();
        for domain in ["Runtime.enable", "Log.enable", "Page.enable"] {
            browser.call(domain, json!({}));
        }
        browser.call("Page.navigate", json!({ "url": url }));
        browser.wait_for(
            "the page loads",
            "document.readyState === 'complete'",
            CALL_LIMIT,
        );
        browser
    }

    /// Console errors, uncaught exceptions and error log entries seen so far.
    pub fn errors(&self) -> &[String] {
        &self.errors
    }

    /// Takes the errors seen so far, leaving none.
    pub fn take_errors(&mut self) -> Vec<String> {
        std::mem::take(&mut self.errors)
    }

    /// Evaluates `expression` in the page (awaiting a promise) and returns its value.
    pub fn evaluate(&mut self, expression: &str) -> Value {
        let answer = self.call(
            "Runtime.evaluate",
            json!({ "expression": expression, "returnByValue": true, "awaitPromise": true }),
        );
        if let Some(details) = answer.get("exceptionDetails") {
            panic!("`{expression}` threw: {details}");
        }
        answer["result"]["value"].clone()
    }

    /// Evaluates `expression` until it is `true`; panics naming `what` after `limit`.
    pub fn wait_for(&mut self, what: &str, expression: &str, limit: Duration) {
        let deadline = Instant::now() + limit;
        loop {
            if self.evaluate(expression) == Value::Bool(true) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "not within {limit:?}: {what} (`{expression}`)"
            );
            // Reading the socket for a poll interval doubles as the pause between polls.
            self.drain_events(POLL_EVERY);
        }
    }

    /// Presses the mouse on the middle of the element `selector` names, as a person would
    /// (the element must be the topmost one there).
    pub fn click(&mut self, selector: &str) {
        let selector_js = serde_json::to_string(selector).expect("a string serialises");
        let rect = self.evaluate(&format!(
            "(() => {{ const e = document.querySelector({selector_js}); if (!e) return null; \
             e.scrollIntoView({{block: 'center'}}); const r = e.getBoundingClientRect(); \
             const x = r.left + r.width / 2, y = r.top + r.height / 2; \
             return {{x, y, top: document.elementFromPoint(x, y) === e}}; }})()"
        ));
        assert!(!rect.is_null(), "no element {selector}");
        assert_eq!(
            rect["top"], true,
            "{selector} is covered by another element"
        );
        for kind in ["mousePressed", "mouseReleased"] {
            self.call(
                "Input.dispatchMouseEvent",
                json!({ "type": kind, "x": rect["x"], "y": rect["y"], "button": "left", "clickCount": 1 }),
            );
        }
    }

    /// Focuses the field `selector` names and types `text` into it.
    pub fn type_into(&mut self, selector: &str, text: &str) {
        let selector_js = serde_json::to_string(selector).expect("a string serialises");
        let focused = self.evaluate(&format!(
            "(() => {{ const e = document.querySelector({selector_js}); if (!e) return false; \
             e.focus(); return document.activeElement === e; }})()"
        ));
        assert_eq!(focused, true, "{selector} takes the focus");
        self.call("Input.insertText", json!({ "text": text }));
    }

    /// Saves a PNG of the whole page at `path`; returns its size in bytes.
    pub fn screenshot(&mut self, path: &Path) -> usize {
        let shot = self.call(
            "Page.captureScreenshot",
            json!({ "format": "png", "captureBeyondViewport": true }),
        );
        let png = base64::engine::general_purpose::STANDARD
            .decode(shot["data"].as_str().expect("screenshot data"))
            .expect("the screenshot is base64");
        std::fs::write(path, &png).expect("the screenshot can be written");
        png.len()
    }

    /// Sends one call (in the tab's session once attached) and returns its result.
    fn call(&mut self, method: &str, params: Value) -> Value {
        self.next_id += 1;
        let id = self.next_id;
        let mut message = json!({ "id": id, "method": method, "params": params });
        if !self.session.is_empty() {
            message["sessionId"] = Value::String(self.session.clone());
        }
        self.socket
            .send(Message::text(message.to_string()))
            .expect("the DevTools socket takes a call");
        let deadline = Instant::now() + CALL_LIMIT;
        loop {
            assert!(
                Instant::now() < deadline,
                "{method}: no answer within {CALL_LIMIT:?}"
            );
            let Some(answer) = self.read() else { continue };
            if answer["id"].as_u64() == Some(id) {
                if let Some(error) = answer.get("error") {
                    panic!("{method} failed: {error}");
                }
                return answer["result"].clone();
            }
            self.note(&answer);
        }
    }

    /// Reads events for `length`, noting errors.
    fn drain_events(&mut self, length: Duration) {
        let until = Instant::now() + length;
        while Instant::now() < until {
            if let Some(event) = self.read() {
                self.note(&event);
            }
        }
    }

    /// One message, or `None` when none came within the read timeout.
    fn read(&mut self) -> Option<Value> {
        match self.socket.read() {
            Ok(Message::Text(text)) => Some(serde_json::from_str(&text).expect("DevTools JSON")),
            Ok(_) => None,
            Err(tungstenite::Error::Io(error))
                if matches!(error.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) =>
            {
                None
            }
            Err(error) => panic!("the DevTools socket failed: {error}"),
        }
    }

    /// Keeps what an event says about errors in the page.
    fn note(&mut self, event: &Value) {
        let params = &event["params"];
        match event["method"].as_str() {
            Some("Runtime.consoleAPICalled") if params["type"] == "error" => {
                self.errors
                    .push(format!("console.error: {}", params["args"]));
            }
            Some("Runtime.exceptionThrown") => {
                self.errors
                    .push(format!("exception: {}", params["exceptionDetails"]));
            }
            Some("Log.entryAdded") if params["entry"]["level"] == "error" => {
                self.errors
                    .push(format!("log: {}", params["entry"]["text"]));
            }
            _ => {}
        }
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.profile);
    }
}

/// The browser's websocket URL, from the `DevToolsActivePort` file Chromium writes into its
/// profile once it listens (port on the first line, path on the second).
fn devtools_endpoint(profile: &Path) -> String {
    let file = profile.join("DevToolsActivePort");
    let deadline = Instant::now() + CALL_LIMIT;
    loop {
        if let Ok(text) = std::fs::read_to_string(&file) {
            let mut lines = text.lines();
            if let (Some(port), Some(path)) = (lines.next(), lines.next()) {
                return format!("ws://127.0.0.1:{}{}", port.trim(), path.trim());
            }
        }
        assert!(
            Instant::now() < deadline,
            "chromium wrote no {} within {CALL_LIMIT:?}",
            file.display()
        );
        std::thread::sleep(POLL_EVERY);
    }
}
