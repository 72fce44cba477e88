//! `ctx.env`: the Worker's environment as workflow code sees it.

use std::any::{Any, TypeId};
use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use crate::maybe_send::{MaybeSend, MaybeSync};

/// A typed value kept in an [`Env`]: shared between threads natively; on wasm32, where a Worker
/// has one thread, any value (an `Rc`, a `JsValue`) can be kept.
#[cfg(not(target_arch = "wasm32"))]
type Value = dyn Any + Send + Sync;
#[cfg(target_arch = "wasm32")]
type Value = dyn Any;

/// The Worker's environment as the embedded engine provides it: string variables (what
/// `[vars]` and secrets are on Cloudflare) plus typed values for native code and tests
/// (a database pool, a mock client).
///
/// Ordered maps, not hash maps: an environment holds a handful of entries, and a Worker that
/// links no hash map is 2.4 KiB gzip smaller.
#[derive(Clone, Default)]
pub struct Env {
    vars: Arc<BTreeMap<String, String>>,
    values: Arc<BTreeMap<TypeId, Arc<Value>>>,
}

impl Env {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a string variable.
    pub fn with_var(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        Arc::make_mut(&mut self.vars).insert(name.into(), value.into());
        self
    }

    /// Adds a typed value, retrievable with [`Env::get`]. Natively it must be `Send + Sync`;
    /// in a Worker (wasm32) any value is accepted.
    pub fn with<T: MaybeSend + MaybeSync + 'static>(mut self, value: T) -> Self {
        Arc::make_mut(&mut self.values).insert(TypeId::of::<T>(), Arc::new(value));
        self
    }

    /// A string variable, if set.
    pub fn var(&self, name: &str) -> Option<&str> {
        self.vars.get(name).map(String::as_str)
    }

    /// A typed value, if one of type `T` was added.
    pub fn get<T: MaybeSend + MaybeSync + 'static>(&self) -> Option<&T> {
        self.values.get(&TypeId::of::<T>()).and_then(|v| v.downcast_ref())
    }
}

impl fmt::Debug for Env {
    /// Variable names only: values are often secrets.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&String> = self.vars.keys().collect();
        f.debug_struct("Env").field("vars", &names).field("values", &self.values.len()).finish()
    }
}
