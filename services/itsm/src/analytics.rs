//! Analytics from the command line: `itsm analytics rebuild [--projection P] [--verify]`
//! replays the event store (`analytics::rebuild`) with a progress bar (events/s, ETA), prints
//! every event it could not replay, and exits non-zero on one, or on a digest mismatch.
use analytics::rebuild::{self, PROJECTIONS};
use anyhow::bail;
use sea_orm::DatabaseConnection;
use uuid::Uuid;

use crate::load::bar;

pub async fn rebuild(
    db: &DatabaseConnection,
    root: Uuid,
    projection: Option<&str>,
    verify: bool,
) -> anyhow::Result<()> {
    if let Some(p) = projection.filter(|p| !PROJECTIONS.contains(p)) {
        bail!(
            "--projection {p:?} is not one of {}",
            PROJECTIONS.join(", ")
        );
    }
    let pb = bar(0, "replay");
    let report = rebuild::rebuild(db, root, verify, &mut |done, total| {
        pb.set_length(total.max(done));
        pb.set_position(done);
    })
    .await?;
    pb.finish();
    for error in &report.errors {
        eprintln!("error: {error}");
    }
    println!(
        "rebuilt the figures of {} tenants from {} events in {:.1} s ({:.0} events/s); {} \
         tenants had events meanwhile and were replayed again in the swap",
        report.tenants,
        report.events,
        report.seconds,
        report.events as f64 / report.seconds.max(1e-9),
        report.replayed_in_swap
    );
    if let Some((live, rebuilt)) = &report.digests {
        println!("live    sha256 {live}\nrebuilt sha256 {rebuilt}");
        if live != rebuilt {
            bail!("the live figures differed from the replay (the replay is now live)");
        }
        println!("digests match");
    }
    if !report.errors.is_empty() {
        bail!("{} events could not be replayed", report.errors.len());
    }
    Ok(())
}
