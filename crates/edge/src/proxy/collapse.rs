//! Collapse: concurrent misses for one variant key share one upstream fetch. The first is
//! the leader (its fill publishes into the key's flight, `crate::lock`); the others wait
//! for the leader's response head only (at most `collapse_timeout`), then are answered from
//! the fill while it is still running: a plain GET follows the body as it arrives, a HEAD,
//! range or conditional request (or a body of unknown length, or one the node compresses)
//! waits for the whole stored object and is answered from it. A waiter goes upstream on its
//! own when the leader's answer is not shared (not storable), when the response varies to
//! another variant or is not fresh for the waiter's request, or when the head is late.

use http::StatusCode;

use super::fill::wants_whole_object;
use super::lookup::hit;
use super::respond::respond_streaming;
use super::{Exchange, Node, Outcome, Refusal};
use crate::lock::{self, Acquire, BodyEnd, FlightState};
use crate::policy::{self, Freshness};

impl Node {
    /// Nothing usable stored: collapse on the variant key.
    pub(super) async fn miss(&self, mut exchange: Exchange<'_>) -> Outcome {
        if !exchange.behavior.collapse {
            return self.fetch(exchange).await;
        }
        let receiver = match self.locks.acquire(&exchange.key.variant) {
            Acquire::Leader(guard) => {
                exchange.guard = Some(guard);
                return self.fetch(exchange).await;
            }
            Acquire::Waiter(receiver) => receiver,
        };
        self.metrics.collapsed();
        if let Some(outcome) = self.follow_leader(&exchange, receiver).await {
            return outcome;
        }
        // Not shared with this request: look again (the leader may have stored another
        // variant's names), else go upstream alone.
        let vary = self.store.vary_of(&exchange.key.primary);
        exchange.key.variant =
            policy::variant_key(&exchange.key.primary, &vary, &exchange.parts.headers);
        if let Some(object) = self.store.get(&exchange.key.variant)
            && let (age, Freshness::Fresh) = self.freshness_of(&exchange, &object)
        {
            return self.answer_stored(&exchange.parts, &object, hit(&object, age, true));
        }
        exchange.collapsed = true;
        self.fetch(exchange).await
    }

    /// Answers a waiter from the leader's fill, or `None` when it must go on its own.
    async fn follow_leader(
        &self,
        exchange: &Exchange<'_>,
        receiver: tokio::sync::watch::Receiver<FlightState>,
    ) -> Option<Outcome> {
        let (head, receiver) = lock::join(receiver, self.config.collapse_timeout).await?;
        // The response may vary on headers unknown when the lock was taken.
        let variant =
            policy::variant_key(&exchange.key.primary, &head.vary, &exchange.parts.headers);
        if variant != head.variant {
            return None;
        }
        let (age, Freshness::Fresh) = self.freshness_of(exchange, &head.object) else {
            return None;
        };
        let served = hit(&head.object, age, true);
        if head.streamable && !wants_whole_object(&exchange.parts) {
            self.metrics.collapsed_from_fill();
            let response =
                respond_streaming(&head.object, self.clock.now(), lock::follow(receiver));
            return Some(Outcome {
                response,
                served,
                upstream: Default::default(),
            });
        }
        match lock::completed(receiver).await {
            BodyEnd::Complete { object, .. } => {
                self.metrics.collapsed_from_fill();
                let (age, _) = self.freshness_of(exchange, &object);
                Some(self.answer_stored(&exchange.parts, &object, hit(&object, age, true)))
            }
            BodyEnd::Failed(why) => {
                self.metrics.collapsed_from_fill();
                Some(Outcome::error(
                    StatusCode::BAD_GATEWAY,
                    why.to_string(),
                    Refusal::Truncated,
                ))
            }
            // Too large to keep: nothing for a waiter, which fetches on its own.
            BodyEnd::Overflow => None,
        }
    }
}
