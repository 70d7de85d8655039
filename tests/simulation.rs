//! A deterministic day over Familjen Helsingborg: seeded arrivals, caseworkers and citizens, a
//! simulated clock, no sleeps. The router's invariants must hold throughout, every request
//! must end closed, assigned, waiting or given up on with the reason it waited, capacity gaps
//! must be filled across borders, and urgent requests must wait less than the others.

use brygga::app::BUILTIN_FEDERATION;
use brygga::simulate::{Report, SimulationConfig, run};

async fn day(requests: u32, seed: u64) -> Report {
    run(SimulationConfig::new(BUILTIN_FEDERATION, requests, seed))
        .await
        .expect("the simulation runs")
}

#[tokio::test]
async fn a_busy_day_keeps_every_routing_invariant() {
    let started = std::time::Instant::now();
    let report = day(2000, 1).await;
    eprintln!("{report}");
    eprintln!("simulated in {:.1?}", started.elapsed());

    assert_eq!(
        report.violations.total(),
        0,
        "{:#?}\n{:#?}",
        report.violations,
        report.notes
    );
    let o = &report.outcomes;
    assert_eq!(
        o.closed + o.assigned + o.waiting + o.gave_up,
        2000,
        "every request accounted for"
    );
    assert_eq!(
        report.waiting.len(),
        usize::try_from(o.waiting).expect("count")
    );
    assert_eq!(
        report.gave_up.len(),
        usize::try_from(o.gave_up).expect("count")
    );
    for w in report.waiting.iter().chain(&report.gave_up) {
        assert!(w.traces > 0, "{} waited without a routing trace", w.id);
        assert!(!w.reason.is_empty(), "{} waited without a reason", w.id);
    }
    assert!(
        report.cross_border.cross_border > 0,
        "capacity gaps are filled across borders when consent allows"
    );
    let perstorp = report
        .municipalities
        .iter()
        .find(|m| m.code == "1275")
        .expect("Perstorp");
    assert!(perstorp.handled_elsewhere > 0, "Perstorp's gaps are filled");
    let urgent = report
        .urgent
        .p50_secs
        .expect("urgent requests were assigned");
    let others = report
        .non_urgent
        .p50_secs
        .expect("other requests were assigned");
    assert!(
        urgent < others,
        "urgent median {urgent}s must be below the others' {others}s"
    );
    let offers = &report.offers;
    assert!(offers.accepted > 0 && offers.rejected > 0 && offers.timed_out > 0);
    assert!(report.casework.claims > 0, "pull-mode requests are claimed");
}

#[tokio::test]
async fn the_same_seed_gives_the_same_day() {
    let first = day(500, 7).await;
    let second = day(500, 7).await;
    assert_eq!(first, second);
}
