//! Typed events: one declaration ties an event type string to its payload type, so the step
//! that waits and the code that sends cannot disagree on either.

use std::fmt;
use std::marker::PhantomData;

/// An event type and the payload it carries. Declare it as a `const`, where the string is
/// checked against Cloudflare's rule (`^[a-zA-Z0-9_][a-zA-Z0-9-_]*$`, at most 100 characters)
/// at compile time:
///
/// ```
/// # use lunora_runtime::EventType;
/// # #[derive(serde::Serialize, serde::Deserialize)] struct Shipment { tracking_id: String }
/// const SHIPMENT_CREATED: EventType<Shipment> = EventType::new("shipment-created");
/// ```
///
/// then `ctx.step.wait_for("await-shipment", &SHIPMENT_CREATED)` in the workflow and
/// `instance.send(&SHIPMENT_CREATED, shipment)` where the event comes from. An invalid string
/// (`"shipment.created"`) fails to compile with the rule in the message.
pub struct EventType<P> {
    name: &'static str,
    _payload: PhantomData<fn() -> P>,
}

impl<P> EventType<P> {
    /// Panics (at compile time in a `const`) when `name` breaks Cloudflare's rule.
    pub const fn new(name: &'static str) -> Self {
        if !lunora_shared::rules::is_event_type(name) {
            panic!(
                "invalid event type: Cloudflare's rule is ^[a-zA-Z0-9_][a-zA-Z0-9-_]*$, at most 100 characters \
                 (write \"shipment-created\", not \"shipment.created\")"
            );
        }
        Self { name, _payload: PhantomData }
    }

    /// The type string, as `waitForEvent` and `sendEvent` take it.
    pub const fn name(&self) -> &'static str {
        self.name
    }
}

impl<P> Clone for EventType<P> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<P> Copy for EventType<P> {}

impl<P> fmt::Debug for EventType<P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "EventType({:?})", self.name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn valid_names_are_kept_and_invalid_ones_refused() {
        const GO: EventType<u32> = EventType::new("go_1-x");
        assert_eq!(GO.name(), "go_1-x");
        for bad in ["", "-go", "a.b", "é", "a b"] {
            let caught = std::panic::catch_unwind(|| EventType::<()>::new(Box::leak(bad.to_owned().into_boxed_str())));
            assert!(caught.is_err(), "{bad:?} accepted");
        }
        let long: &'static str = Box::leak("x".repeat(101).into_boxed_str());
        assert!(std::panic::catch_unwind(|| EventType::<()>::new(long)).is_err());
        let max: &'static str = Box::leak("x".repeat(100).into_boxed_str());
        assert_eq!(EventType::<()>::new(max).name().len(), 100);
    }
}
