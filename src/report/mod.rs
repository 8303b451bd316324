//! Result output, one module per format: JSON (the contract) and Markdown
//! (the side-by-side table people read, also printed on stdout).

pub mod compare;
pub mod json;
pub mod markdown;
pub mod plot;
pub mod vs_baseline;
pub mod warnings;

pub use crate::units::{duration, gib, mib};

/// Interim: one scenario's figures of a variant, until each scenario's
/// report section lives in its own module.
macro_rules! interim_of {
    ($($f:ident => $V:ident : $T:ty),*) => {$(
        pub(crate) fn $f(v: &crate::result::VariantResult) -> Option<&$T> {
            match &v.result {
                Some(crate::scenario::ScenarioResult::$V(x)) => Some(x),
                _ => None,
            }
        }
    )*};
}
interim_of! {
    scaling_of => Scaling: crate::scenario::scaling::ScalingResult,
    churn_of => Churn: crate::scenario::churn::ChurnResult,
    pool_of => Pool: crate::scenario::pool::PoolResult,
    session_of => Session: crate::scenario::session::SessionResult,
    soak_of => Soak: crate::scenario::soak::SoakResult,
    serve_of => Serve: crate::scenario::serve::ServeResult,
    tenants_of => Tenants: crate::scenario::tenants::TenantsResult
}
