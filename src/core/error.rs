//! Errors with a stable code: the one thing JavaScript callers may branch on.

#[allow(unused_imports)]
use crate::prelude::*;

use alloc::borrow::Cow;
use core::fmt;

/// The stable `code` of a JS `SessionError`. Callers branch on these names, so they never change.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorCode {
    /// The configuration, or an argument, is invalid.
    Config,
    /// There is no session: the provider has no token to give.
    Unauthenticated,
    /// The provider threw, rejected, or answered something that is not a usable token.
    RefreshFailed,
    /// A wait on JavaScript (the provider or the request) ran past its limit.
    Timeout,
    /// `fetch` itself failed: offline, DNS, CORS.
    Network,
    /// The server kept answering 5xx or 429 after every retry.
    Server,
    /// The server answered with a status or a body the library cannot use.
    BadResponse,
    /// The manager was freed (`free()`): create a new one.
    Freed,
}

impl ErrorCode {
    /// The name JavaScript sees in `error.code`.
    pub const fn as_str(self) -> &'static str {
        match self {
            ErrorCode::Config => "config",
            ErrorCode::Unauthenticated => "unauthenticated",
            ErrorCode::RefreshFailed => "refresh_failed",
            ErrorCode::Timeout => "timeout",
            ErrorCode::Network => "network",
            ErrorCode::Server => "server",
            ErrorCode::BadResponse => "bad_response",
            ErrorCode::Freed => "freed",
        }
    }
}

/// A failure with a stable code and a message for people.
///
/// Messages are assembled from fixed text and field names only, never from values the page
/// handed in, so a token cannot end up in one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Error {
    /// What kind of failure this is.
    pub code: ErrorCode,
    /// What went wrong, naming the field or step.
    pub message: Cow<'static, str>,
}

impl Error {
    /// An error with `code` and a message.
    pub fn new(code: ErrorCode, message: impl Into<Cow<'static, str>>) -> Self {
        Error {
            code,
            message: message.into(),
        }
    }

    /// The manager was freed: everything it was still doing ends with this.
    pub fn freed() -> Self {
        Error::new(
            ErrorCode::Freed,
            "this SessionManager was freed (free()); create a new one",
        )
    }

    /// An invalid-configuration error naming `field`.
    pub fn config(field: &str, problem: &str) -> Self {
        Error::new(ErrorCode::Config, crate::core::join(&[field, " ", problem]))
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code.as_str(), self.message)
    }
}

impl core::error::Error for Error {}
