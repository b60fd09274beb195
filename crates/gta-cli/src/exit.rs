//! Exit codes: 2 for bad input (a file, key, shape, value or flag the user can fix), 1 for a
//! machine that cannot run the command (e.g. no CUDA driver) or an internal failure.

/// Bad input: the user's file, flag or value is wrong.
pub const BAD_INPUT: i32 = 2;
/// The environment cannot run the command (missing GPU, I/O failure not caused by the input).
pub const RUNTIME: i32 = 1;

/// Marks an error as a runtime (not user-input) failure when wrapped in `anyhow`.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct RuntimeFailure(pub String);

/// Exit code for an error returned by a subcommand.
pub fn code_for(err: &anyhow::Error) -> i32 {
    for cause in err.chain() {
        if cause
            .downcast_ref::<gta_nn::DeviceError>()
            .is_some_and(|e| matches!(e, gta_nn::DeviceError::Unavailable(_)))
            || cause.downcast_ref::<RuntimeFailure>().is_some()
        {
            return RUNTIME;
        }
    }
    BAD_INPUT
}
