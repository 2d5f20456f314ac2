//! Lookup: the cache key, the stored object and its freshness, request collapsing, and the
//! stale-while-revalidate refresh (a clone of the node running the revalidate phase on the
//! request's own exchange, so it forwards exactly what a foreground fill would).

use std::sync::Arc;
use std::time::Duration;

use http::request::Parts;
use http_body_util::BodyExt;
use tracing::Instrument;

use super::{CacheKey, Exchange, ForwardReason, Node, Outcome, Served, respond_from_object};
use crate::config::Behavior;
use crate::policy::{self, Freshness};
use crate::store::CachedObject;

impl Node {
    /// The cache path of a GET or HEAD.
    pub(super) async fn cacheable(&self, parts: Parts, behavior: &Behavior) -> Outcome {
        let (key, reason) = self.key_of(&parts, behavior);
        let exchange = Exchange {
            parts,
            behavior,
            key,
            reason,
            collapsed: false,
            guard: None,
        };
        match self.store.get(&exchange.key.variant) {
            Some(object) => self.serve_stored(exchange, object).await,
            None => self.miss(exchange).await,
        }
    }

    /// The request's key, and why it would go upstream if nothing is stored under it.
    fn key_of(&self, parts: &Parts, behavior: &Behavior) -> (CacheKey, ForwardReason) {
        let host = self
            .config
            .distribution
            .clone()
            .unwrap_or_else(|| super::forward::host_of(parts));
        let primary = policy::cache_key(
            behavior,
            &host,
            parts.uri.path(),
            parts.uri.query(),
            &parts.headers,
        );
        let vary = self.store.vary_of(&primary);
        let variant = policy::variant_key(&primary, &vary, &parts.headers);
        let reason = if vary.is_empty() {
            ForwardReason::UriMiss
        } else {
            ForwardReason::VaryMiss
        };
        let key = CacheKey {
            primary: Arc::from(primary),
            variant,
        };
        (key, reason)
    }

    /// A stored object: fresh → hit; inside stale-while-revalidate → stale hit and one
    /// background refresh; stale → revalidate first.
    async fn serve_stored(&self, mut exchange: Exchange<'_>, object: Arc<CachedObject>) -> Outcome {
        let (age, freshness) = self.freshness_of(&exchange, &object);
        match freshness {
            Freshness::Fresh => {
                self.answer_stored(&exchange.parts, &object, hit(&object, age, false))
            }
            Freshness::StaleWhileRevalidate => {
                self.spawn_refresh(&exchange, object.clone());
                let ttl =
                    i128::from(object.lifetime.lifetime.as_secs()) - i128::from(age.as_secs());
                self.answer_stored(
                    &exchange.parts,
                    &object,
                    Served::StaleWhileRevalidate { ttl },
                )
            }
            Freshness::Stale { serve_on_error } => {
                exchange.reason = ForwardReason::Stale;
                self.revalidate(exchange, object, serve_on_error).await
            }
        }
    }

    /// The object's age now, and how it may be used for this request.
    pub(super) fn freshness_of(
        &self,
        exchange: &Exchange<'_>,
        object: &CachedObject,
    ) -> (Duration, Freshness) {
        let age = object.age(self.clock.now());
        let rfc = exchange.behavior.cache_policy.rfc;
        let freshness = policy::freshness(&object.lifetime, age, &exchange.parts.headers, rfc);
        (age, freshness)
    }

    /// Starts the one background refresh of a key served stale, unless one runs. It is the
    /// revalidate phase on a copy of this exchange, run by a clone of this node.
    fn spawn_refresh(&self, exchange: &Exchange<'_>, object: Arc<CachedObject>) {
        let Some(guard) = self.locks.try_lead(&exchange.key.variant) else {
            return;
        };
        let node = self.clone();
        let parts = exchange.parts.clone();
        let key = exchange.key.clone();
        let span = tracing::debug_span!("refresh");
        let task = async move {
            // Held until the refreshed copy is stored (or the refresh failed).
            let _guard = guard;
            let behavior = node.config.behavior(parts.uri.path());
            let refresh = Exchange {
                parts,
                behavior,
                key,
                reason: ForwardReason::Stale,
                collapsed: false,
                guard: None,
            };
            tokio::select! {
                outcome = node.revalidate(refresh, object, false) => {
                    // Drain the body so a streamed fill completes.
                    let _ = outcome.response.into_body().collect().await;
                }
                () = node.shutdown.triggered() => {}
            }
        };
        self.shutdown.spawn(task.instrument(span));
    }

    /// Answers from a stored object: conditional requests, ranges, HEAD, `Age`.
    pub(super) fn answer_stored(
        &self,
        parts: &Parts,
        object: &CachedObject,
        served: Served,
    ) -> Outcome {
        Outcome {
            response: respond_from_object(parts, object, self.clock.now()),
            served,
            upstream: super::outcome::UpstreamInfo::default(),
        }
    }
}

/// A hit on `object` at `age`, with the freshness it has left.
pub(super) fn hit(object: &CachedObject, age: Duration, collapsed: bool) -> Served {
    let ttl = object.lifetime.lifetime.saturating_sub(age).as_secs();
    Served::Hit { ttl, collapsed }
}
