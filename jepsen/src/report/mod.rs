//! Run reports: a self-contained HTML page ([`html`]) of a run's results,
//! history and figures (`crate::figures`).

pub mod html;
