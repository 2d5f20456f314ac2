//! The live page of `edgelab up` in a real browser: headless Chromium loads the page the
//! binary prints, the node table fills in, a "fail AZ" press without the admin token is
//! refused, and with the token typed in the AZ's origin replica turns down in the table (and
//! in `GET /nodes`); traffic sent to a PoP shows up in its row, and its hit ratio since
//! start once a rate window passes without traffic; no console error. A
//! screenshot is saved as `target/browser/live.png`.
//!
//! Skipped, with a message, when no Chromium is installed; required when `CI=true`
//! (`.ci/e2e/report-browser.sh` installs Debian's `chromium` and runs this test).

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Stdio};
use std::time::Duration;

use edgelab_testkit::browser::{self, Browser};

use crate::support::{edgelab, http_get};

/// How long the page may take to show a change.
const SHOWN_WITHIN: Duration = Duration::from_secs(15);
const TOKEN: &str = "s3cret-token";

/// `edgelab up` (the built-in default topology) with an admin token; stopped on drop.
struct Up {
    child: Child,
    page: String,
    control: SocketAddr,
}

impl Up {
    fn start() -> Up {
        let mut child = edgelab()
            .arg("up")
            .env("EDGELAB_ADMIN_TOKEN", TOKEN)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn edgelab up");
        let lines = BufReader::new(child.stdout.take().expect("piped")).lines();
        let mut page = None;
        for line in lines {
            let line = line.expect("stdout");
            if let Some(rest) = line.strip_prefix("live page ") {
                page = rest.split_whitespace().next().map(str::to_string);
            }
            if line.starts_with("ready") {
                break;
            }
        }
        let page = page.expect("a `live page URL` line before ready");
        let control = page
            .trim_start_matches("http://")
            .trim_end_matches('/')
            .parse()
            .expect("the page is at http://IP:PORT/");
        Up {
            child,
            page,
            control,
        }
    }
}

impl Drop for Up {
    fn drop(&mut self) {
        let _ = std::process::Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let _ = self.child.wait();
    }
}

/// The JS condition "every row of `selector` shows health `health`, and there is one".
fn rows_are(selector: &str, health: &str) -> String {
    let selector = serde_json::to_string(&format!("#nodes tbody tr{selector}")).expect("JSON");
    format!(
        "(() => {{ const rows = document.querySelectorAll({selector}); \
         return rows.length > 0 && Array.from(rows).every(r => \
         r.querySelector('td.health').textContent === '{health}'); }})()"
    )
}

fn node_up(control: SocketAddr, name: &str) -> bool {
    let (status, _, body) = http_get(control, "/nodes", &[]);
    assert_eq!(status, 200);
    let nodes: Vec<serde_json::Value> = serde_json::from_slice(&body).expect("nodes JSON");
    let node = nodes.iter().find(|n| n["name"] == name).expect("listed");
    node["up"] == true
}

#[test]
fn the_live_page_fails_an_az_when_its_button_is_pressed_in_a_real_browser() {
    let Some(binary) = browser::chromium_or_skip("the live page test") else {
        return;
    };
    let up = Up::start();
    let (_, _, listed) = http_get(up.control, "/nodes", &[]);
    let listed: Vec<serde_json::Value> = serde_json::from_slice(&listed).expect("nodes JSON");
    let dir = browser::artefact_dir();
    let mut page = Browser::open(&binary, &dir.join("live-profile"), &up.page, (1400, 1200));

    page.wait_for(
        "a row per node",
        &format!(
            "document.querySelectorAll('#nodes tbody tr').length === {}",
            listed.len()
        ),
        SHOWN_WITHIN,
    );
    page.wait_for("every node up", &rows_are("", "up"), SHOWN_WITHIN);
    assert_eq!(
        page.evaluate("!document.getElementById('token-box').hidden"),
        true,
        "the page asks for the token the control port requires"
    );

    let fail = "button[data-action='fail'][data-target='use1-az1']";
    page.click(fail);
    page.wait_for(
        "the refusal is shown",
        "document.getElementById('message').textContent.includes('admin token')",
        SHOWN_WITHIN,
    );
    assert!(node_up(up.control, "origin-use1-az1"), "refused: still up");
    let refused = page.take_errors();
    assert!(
        refused.len() == 1 && refused[0].contains("401"),
        "the browser logs the refused call and nothing else: {refused:?}"
    );

    page.type_into("#token", TOKEN);
    page.click("#token-save");
    page.click(fail);
    page.wait_for(
        "use1-az1's replica down in the table",
        &rows_are("[data-az='use1-az1']", "down"),
        SHOWN_WITHIN,
    );
    assert!(
        !node_up(up.control, "origin-use1-az1"),
        "the control API agrees"
    );
    assert_eq!(
        page.evaluate(&rows_are("[data-az='use1-az2']", "up")),
        true,
        "the other AZs stay up"
    );
    assert_eq!(
        page.evaluate("document.querySelector(\".switch[data-target='use1-az1']\").dataset.failed"),
        "true"
    );

    // Traffic through a PoP shows in its row.
    let pop = listed
        .iter()
        .find(|n| n["name"] == "pop-lhr")
        .expect("pop-lhr runs");
    let pop: SocketAddr = pop["traffic"]
        .as_str()
        .expect("traffic URL")
        .trim_start_matches("http://")
        .parse()
        .expect("IP:PORT");
    for _ in 0..5 {
        assert_eq!(http_get(pop, "/static/00001.js", &[]).0, 200);
    }
    page.wait_for(
        "pop-lhr's five requests shown",
        "document.querySelector(\"#nodes tr[data-node='pop-lhr'] td.total\").textContent === '5'",
        SHOWN_WITHIN,
    );
    // Once a rate window passes without traffic, the row shows the ratio since start (the
    // first request missed, the other four hit), labelled as such, not a dash.
    page.wait_for(
        "pop-lhr's ratio since start",
        "document.querySelector(\"#nodes tr[data-node='pop-lhr'] td.hit\").textContent === '80 % (since start)'",
        SHOWN_WITHIN,
    );
    let shot = page.screenshot(&dir.join("live.png"));
    assert!(shot > 10_000, "a screenshot was saved ({shot} bytes)");

    page.click("button[data-action='restore'][data-target='use1-az1']");
    page.wait_for(
        "use1-az1 back up",
        &rows_are("[data-az='use1-az1']", "up"),
        SHOWN_WITHIN,
    );
    assert_eq!(page.errors(), &[] as &[String], "no console errors");
}
