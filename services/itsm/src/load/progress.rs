//! The progress bars the seed command draws on the terminal.
use indicatif::{ProgressBar, ProgressStyle};

pub(crate) fn bar(len: u64, prefix: &'static str) -> ProgressBar {
    let pb = ProgressBar::new(len);
    if let Ok(style) = ProgressStyle::with_template(
        "{prefix:>9} [{elapsed_precise}] {wide_bar} {human_pos}/{human_len} ({per_sec}, eta {eta})",
    ) {
        pb.set_style(style);
    }
    pb.set_prefix(prefix);
    pb
}
