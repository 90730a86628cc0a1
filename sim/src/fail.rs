//! A broken invariant as the checks raise it, before the run knows the
//! step and phase ([`Fail`]), and naming the client it came from
//! ([`tag`]). Every check of the simulator returns one.

use super::report::Invariant;

/// A broken invariant, before the step and phase are known.
#[derive(Debug, Clone)]
pub(crate) struct Fail {
    pub invariant: Invariant,
    pub client: Option<String>,
    pub detail: String,
}

impl Fail {
    pub(crate) fn new(invariant: Invariant, detail: impl Into<String>) -> Fail {
        Fail {
            invariant,
            client: None,
            detail: detail.into(),
        }
    }
}

/// Names the client a failure came from, unless it is named already.
pub(crate) fn tag(name: &str, mut f: Fail) -> Fail {
    if f.client.is_none() {
        f.client = Some(name.to_string());
    }
    f
}
