//! Shrinking beyond the step prefix: the smallest failing scenario keeps the
//! seed and the violated invariant, is no bigger than the first one in any
//! dimension, and replays its own violation exactly.

use receiptdb_sim::{Mutation, Scenario};

#[test]
fn the_default_tally_failure_shrinks_in_steps_clients_and_groups_and_replays() {
    let sc = Scenario {
        mutate: Some(Mutation::Tally),
        ..Scenario::default()
    };
    let report = sc.run().unwrap_or_else(|e| panic!("{e}"));
    let (Some(first), Some(shrunk)) = (report.violation.clone(), report.shrunk.clone()) else {
        panic!("the planted bug fails and is shrunk:\n{report}");
    };
    let z = &shrunk.scenario;
    assert_eq!(shrunk.violation.invariant, first.invariant, "{report}");
    assert_eq!(z.seed, sc.seed);
    assert!(z.effective_steps() <= first.step + 1, "{report}");
    assert!(z.clients <= sc.clients && z.groups <= sc.groups && z.messages <= sc.messages);
    assert!(z.faults.is_subset(&sc.faults));
    // Beyond the prefix: the default run (10 clients, 4 groups) needs fewer.
    assert!(z.clients < sc.clients || z.groups < sc.groups, "{report}");
    let text = report.to_string();
    assert!(text.contains("shrunk (in "), "{text}");
    // The replay line runs exactly the smallest scenario, which fails the same way.
    let replay = report.replay_command().unwrap_or_default();
    assert!(
        replay.contains(&format!("--clients {}", z.clients)),
        "{replay}"
    );
    let mut again = z.clone();
    again.shrink = false;
    let r = again.run().unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(r.violation, Some(shrunk.violation), "{r}");
}
