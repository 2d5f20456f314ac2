//! Interim (1xx) responses from upstream, relayed to the viewer whose request caused them
//! (RFC 9110 §15.2: a proxy forwards the 1xx it did not ask for itself), through
//! `edgelab_common::interim`: the upstream requests a viewer's request task sends relay to
//! that viewer, while a background refresh (another task, its viewer long answered) relays
//! nothing. A `100 Continue` is the node's own business (it asked for it, [`super::expect`]).
//! None is ever stored: hyper's client hands over only final responses, and the cache only
//! sees those.

use http::{HeaderMap, Request, StatusCode};

use super::expect::Gate;
use super::strip_hop_by_hop;
use crate::metrics::{InterimResult, Metrics};

/// Installs the one informational callback of `request`: `100 Continue` opens `gate`, any
/// other 1xx goes to the viewer of the current task (counted as relayed or dropped).
pub fn watch<B>(request: &mut Request<B>, gate: Option<&Gate>, metrics: &Metrics) {
    let viewer = edgelab_common::interim::current();
    let gate = gate.cloned();
    let counts = metrics.interim();
    hyper::ext::on_informational(request, move |response| {
        let status = response.status();
        if status == StatusCode::CONTINUE {
            if let Some(gate) = &gate {
                gate.continued();
            }
            return;
        }
        let relayed = viewer
            .as_ref()
            .is_some_and(|viewer| viewer.send(status, &forwarded(response.headers())));
        counts.count(if relayed {
            InterimResult::Relayed
        } else {
            InterimResult::Dropped
        });
    });
}

/// An interim response's fields as the viewer gets them: without hop-by-hop fields.
fn forwarded(headers: &HeaderMap) -> HeaderMap {
    let mut headers = headers.clone();
    strip_hop_by_hop(&mut headers);
    headers
}
