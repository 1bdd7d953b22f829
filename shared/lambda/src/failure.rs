//! Error → `Diagnostic`, once for every function.
//!
//! Each function keeps its rich typed error and says, by implementing [`FailureError`], which of
//! Ferry's fixed Lambda error types ([`FailureKind`], `Ferry.*`) it is reported as. [`diagnostic`]
//! turns any of them into the `lambda_runtime::Diagnostic` the handler returns: `errorType` the
//! kind's string, `errorMessage` the message with its chain of causes.

use ferry_core::failure::{error_chain, FailureKind};
use lambda_runtime::Diagnostic;

/// An error a function reports at the Lambda boundary.
pub trait FailureError: std::error::Error {
    /// The fixed Lambda error type this error is reported as.
    fn kind(&self) -> FailureKind;

    /// The full message with its chain of causes (`a: b: c`, see
    /// [`ferry_core::failure::error_chain`]): the reported `errorMessage`.
    fn message(&self) -> String {
        error_chain(&self)
    }
}

/// The `Diagnostic` a handler returns for `error`.
pub fn diagnostic<E: FailureError + ?Sized>(error: &E) -> Diagnostic {
    Diagnostic {
        error_type: error.kind().error_type().to_owned(),
        error_message: error.message(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("outer")]
    struct Outer(#[source] std::io::Error);

    impl FailureError for Outer {
        fn kind(&self) -> FailureKind {
            FailureKind::Transient
        }
    }

    #[test]
    fn diagnostic_has_the_kind_and_the_cause_chain() {
        let d = diagnostic(&Outer(std::io::Error::other("inner")));
        assert_eq!(d.error_type, "Ferry.Transient");
        assert_eq!(d.error_message, "outer: inner");
    }
}
