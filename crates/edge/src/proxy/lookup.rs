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

/// What the lookup found.
pub(super) enum Looked<'a> {
    /// A fresh stored copy, to answer (through a map, or written straight as text by the
    /// lane's [`Node::write_fresh`]).
    Fresh(Fresh),
    /// A stored copy that is not fresh: served stale or revalidated.
    Stored(Exchange<'a>, Arc<CachedObject>),
    /// Nothing stored for the request.
    Missing(Exchange<'a>),
}

/// A fresh hit found by the lookup, before its answer is made.
pub(super) struct Fresh {
    /// The viewer's request head.
    pub(super) parts: Parts,
    /// The stored object.
    pub(super) object: Arc<CachedObject>,
    /// Its age at the lookup.
    pub(super) age: Duration,
}

impl Fresh {
    /// How it is served.
    pub(super) fn served(&self) -> Served {
        hit(&self.object, self.age, false)
    }
}

impl Node {
    /// The answer to a fresh hit, as a response with its map.
    pub(super) fn answer_fresh(&self, fresh: &Fresh) -> Outcome {
        self.answer_stored(&fresh.parts, &fresh.object, fresh.served())
    }

    /// The cache path of a GET or HEAD.
    pub(super) async fn cacheable(&self, parts: Parts, behavior: &Behavior) -> Outcome {
        self.after_lookup(self.look_up(parts, behavior)).await
    }

    /// The lookup, which waits for nothing: a fresh hit is answered straight away, before the
    /// exchange is made (it needs neither the shared key nor a lock).
    pub(super) fn look_up<'a>(&self, parts: Parts, behavior: &'a Behavior) -> Looked<'a> {
        let primary = self.primary_key(&parts, behavior);
        let vary = self.store.vary_of(&primary);
        let variant =
            (!vary.is_empty()).then(|| policy::variant_key(&primary, &vary, &parts.headers));
        let stored = self.store.get(variant.as_deref().unwrap_or(&primary));
        if let Some(object) = &stored
            && let (age, Freshness::Fresh) = self.freshness_for(&parts, behavior, object)
        {
            return Looked::Fresh(Fresh {
                parts,
                object: object.clone(),
                age,
            });
        }
        let reason = if vary.is_empty() {
            ForwardReason::UriMiss
        } else {
            ForwardReason::VaryMiss
        };
        let key = CacheKey {
            variant: variant.unwrap_or_else(|| primary.clone()),
            primary: Arc::from(primary),
        };
        let exchange = Exchange {
            parts,
            behavior,
            key,
            reason,
            collapsed: false,
            guard: None,
        };
        match stored {
            Some(object) => Looked::Stored(exchange, object),
            None => Looked::Missing(exchange),
        }
    }

    /// What follows the lookup: a stored copy served or revalidated, or a miss.
    pub(super) async fn after_lookup(&self, looked: Looked<'_>) -> Outcome {
        match looked {
            Looked::Fresh(fresh) => self.answer_fresh(&fresh),
            Looked::Stored(exchange, object) => self.serve_stored(exchange, object).await,
            Looked::Missing(exchange) => self.miss(exchange).await,
        }
    }

    /// The request's primary cache key (the distribution's name, else the viewer's host).
    fn primary_key(&self, parts: &Parts, behavior: &Behavior) -> String {
        let host = match &self.config.distribution {
            Some(distribution) => distribution.as_str(),
            None => host_str(parts),
        };
        policy::cache_key(
            behavior,
            host,
            parts.uri.path(),
            parts.uri.query(),
            &parts.headers,
        )
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
                    i128::from(object.lifetime().lifetime.as_secs()) - i128::from(age.as_secs());
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
        self.freshness_for(&exchange.parts, exchange.behavior, object)
    }

    /// [`Node::freshness_of`] before the exchange is made.
    fn freshness_for(
        &self,
        parts: &Parts,
        behavior: &Behavior,
        object: &CachedObject,
    ) -> (Duration, Freshness) {
        let age = object.age(self.clock.now());
        let rfc = behavior.cache_policy.rfc;
        let freshness = policy::freshness(&object.lifetime(), age, &parts.headers, rfc);
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
    let ttl = object.lifetime().lifetime.saturating_sub(age).as_secs();
    Served::Hit { ttl, collapsed }
}

/// The viewer's host, borrowed (Host header, else the URI authority, else empty).
fn host_str(parts: &Parts) -> &str {
    parts
        .headers
        .get(http::header::HOST)
        .and_then(|v| v.to_str().ok())
        .or_else(|| parts.uri.authority().map(|a| a.as_str()))
        .unwrap_or_default()
}
