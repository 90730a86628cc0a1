//! Progress reports of a run (for a progress display).

/// Where a run is, for progress display.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProgressPhase {
    /// The faulty phase: `step` of `total`.
    Run,
    /// Healing and draining: `step` steps so far.
    Quiesce,
    /// Shrinking a failure: trying a prefix of `step` steps (below `total`).
    Shrink,
}

/// A progress report passed to
/// [`Scenario::run_with_progress`](crate::Scenario::run_with_progress).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Progress {
    /// The phase.
    pub phase: ProgressPhase,
    /// The step (see [`ProgressPhase`]).
    pub step: u64,
    /// The total, where known.
    pub total: u64,
}
