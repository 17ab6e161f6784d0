//! The one error type of `db`: what went wrong, classified so callers can act on it without
//! looking inside a driver error.

use tokio_postgres::error::SqlState;

/// A database operation that failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The row the operation needed does not exist (or is hidden from the caller).
    #[error("not found")]
    NotFound,
    /// A unique or exclusion constraint refused the change; `constraint` names it.
    #[error("{context}: conflicts with constraint {constraint}")]
    Conflict {
        context: &'static str,
        constraint: String,
    },
    /// The database could not be reached or did not answer in time (`why` says which); the
    /// webhooks fail open on either.
    #[error("{context}: {why}")]
    Unavailable {
        context: &'static str,
        why: Unanswered,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// Anything else: a bug, a broken invariant, a constraint that should never fail.
    #[error("{context}")]
    Other {
        context: &'static str,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Why the database gave no answer. The API tells its callers apart by it: work stopped at
/// its deadline is worth narrowing, an unreachable database is not.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Unanswered {
    /// Reached, but the work did not finish in time: a statement ran past its
    /// `statement_timeout` (or was cancelled), no pooled connection came free within the
    /// deadline, or the work outlived [`within`].
    #[error("the database did not answer in time")]
    TimedOut,
    /// Not reached: a refused, failed or lost connection, a server shutting down or out of
    /// connections, no new connection within the deadline.
    #[error("the database is unreachable")]
    Unreachable,
}

/// A stored value this build has no name for (written by the platform, a newer version or by
/// hand): reading it is an error, answered as an opaque 500, never a guess.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unexpected stored {column} {value:?}")]
pub struct UnknownStoredValue {
    pub column: &'static str,
    pub value: String,
}

impl UnknownStoredValue {
    /// Parses `raw`, a value of `column`, into its domain type with `parse`.
    pub fn parse<T, E>(
        column: &'static str,
        raw: &str,
        parse: impl FnOnce(&str) -> std::result::Result<T, E>,
    ) -> std::result::Result<T, Self> {
        parse(raw).map_err(|_| Self {
            column,
            value: raw.to_owned(),
        })
    }
}

impl From<UnknownStoredValue> for Error {
    fn from(error: UnknownStoredValue) -> Self {
        Self::invariant("reading a stored value", error.to_string())
    }
}

/// Runs database work for at most `deadline`; running out of time is `Unavailable` with
/// `context`, like any other way the database can fail to answer.
pub async fn within<T>(
    deadline: std::time::Duration,
    context: &'static str,
    work: impl std::future::Future<Output = Result<T>>,
) -> Result<T> {
    tokio::time::timeout(deadline, work)
        .await
        .unwrap_or_else(|elapsed| {
            Err(Error::Unavailable {
                context,
                why: Unanswered::TimedOut,
                source: Box::new(elapsed),
            })
        })
}

impl Error {
    /// Classifies a driver error that happened while doing `context`.
    pub fn from_driver(context: &'static str, error: tokio_postgres::Error) -> Self {
        let code = error.code();
        if matches!(
            code,
            Some(&SqlState::UNIQUE_VIOLATION | &SqlState::EXCLUSION_VIOLATION)
        ) {
            let constraint = error
                .as_db_error()
                .and_then(|e| e.constraint())
                .unwrap_or_default()
                .to_owned();
            return Self::Conflict {
                context,
                constraint,
            };
        }
        // 57014: `statement_timeout` (or a cancel) stopped the statement.
        let timed_out = code == Some(&SqlState::QUERY_CANCELED);
        let unreachable = error.is_closed()
            || code.is_some_and(|c| {
                c.code().starts_with("08") // connection exceptions
                    || *c == SqlState::ADMIN_SHUTDOWN
                    || *c == SqlState::CRASH_SHUTDOWN
                    || *c == SqlState::CANNOT_CONNECT_NOW
                    || *c == SqlState::TOO_MANY_CONNECTIONS
            })
            || (code.is_none() && error.as_db_error().is_none());
        if timed_out || unreachable {
            Self::Unavailable {
                context,
                why: if timed_out {
                    Unanswered::TimedOut
                } else {
                    Unanswered::Unreachable
                },
                source: Box::new(error),
            }
        } else {
            Self::Other {
                context,
                source: Box::new(error),
            }
        }
    }

    /// A broken expectation about what the database holds.
    pub fn invariant(context: &'static str, detail: String) -> Self {
        Self::Other {
            context,
            source: detail.into(),
        }
    }

    /// The same failure, for another member of a batch that failed as a whole: each member
    /// gets its own error (the source is carried as its message).
    pub fn for_member(&self) -> Self {
        let text = |source: &(dyn std::error::Error + Send + Sync)| source.to_string().into();
        match self {
            Self::NotFound => Self::NotFound,
            Self::Conflict {
                context,
                constraint,
            } => Self::Conflict {
                context,
                constraint: constraint.clone(),
            },
            Self::Unavailable {
                context,
                why,
                source,
            } => Self::Unavailable {
                context,
                why: *why,
                source: text(source.as_ref()),
            },
            Self::Other { context, source } => Self::Other {
                context,
                source: text(source.as_ref()),
            },
        }
    }

    pub fn is_conflict_on(&self, name: &str) -> bool {
        matches!(self, Self::Conflict { constraint, .. } if constraint == name)
    }
}

impl From<tokio_postgres::Error> for Error {
    fn from(error: tokio_postgres::Error) -> Self {
        Self::from_driver("database operation failed", error)
    }
}

impl From<deadpool_postgres::PoolError> for Error {
    fn from(error: deadpool_postgres::PoolError) -> Self {
        Self::from_pool("no database connection available", error)
    }
}

impl Error {
    /// Classifies a pool that gave no connection: waiting for a busy pool's free connection
    /// past the deadline is a timeout, failing to open a new one is an unreachable database.
    fn from_pool(context: &'static str, error: deadpool_postgres::PoolError) -> Self {
        use deadpool_postgres::{PoolError, TimeoutType};
        let why = match &error {
            PoolError::Timeout(TimeoutType::Wait) => Unanswered::TimedOut,
            PoolError::Backend(driver) if driver.code() == Some(&SqlState::QUERY_CANCELED) => {
                Unanswered::TimedOut
            }
            _ => Unanswered::Unreachable,
        };
        Self::Unavailable {
            context,
            why,
            source: Box::new(error),
        }
    }

    /// Whether the database was reached but did not finish the work in time.
    pub fn timed_out(&self) -> bool {
        matches!(
            self,
            Self::Unavailable {
                why: Unanswered::TimedOut,
                ..
            }
        )
    }
}

/// `.context("what was being done")` on driver results, classifying the failure.
pub trait Context<T> {
    fn context(self, what: &'static str) -> Result<T>;
}

impl<T> Context<T> for std::result::Result<T, tokio_postgres::Error> {
    fn context(self, what: &'static str) -> Result<T> {
        self.map_err(|e| Error::from_driver(what, e))
    }
}

impl<T> Context<T> for std::result::Result<T, deadpool_postgres::PoolError> {
    fn context(self, what: &'static str) -> Result<T> {
        self.map_err(|e| Error::from_pool(what, e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::CallStatus;

    #[tokio::test]
    async fn a_pool_that_stays_busy_past_the_deadline_timed_out_and_one_that_cannot_connect_is_unreachable()
     {
        use deadpool_postgres::{PoolError, TimeoutType};
        let waited = Error::from(PoolError::Timeout(TimeoutType::Wait));
        assert!(waited.timed_out(), "{waited}");
        for unreachable in [PoolError::Timeout(TimeoutType::Create), PoolError::Closed] {
            let error = Error::from(unreachable);
            assert!(
                matches!(
                    error,
                    Error::Unavailable {
                        why: Unanswered::Unreachable,
                        ..
                    }
                ),
                "{error}"
            );
        }
        let within = within(
            std::time::Duration::ZERO,
            "waiting",
            std::future::pending::<Result<()>>(),
        )
        .await;
        assert!(within.is_err_and(|error| error.timed_out()));
    }

    #[test]
    fn an_unknown_stored_value_names_its_column_and_value_and_is_no_guess() {
        let parsed = UnknownStoredValue::parse("call_status", "queued", CallStatus::parse_stored);
        let unknown = parsed.unwrap_err();
        assert_eq!(
            unknown.to_string(),
            r#"unexpected stored call_status "queued""#
        );
        assert!(matches!(Error::from(unknown), Error::Other { .. }));
        assert_eq!(
            UnknownStoredValue::parse("call_status", "ringing", CallStatus::parse_stored),
            Ok(CallStatus::Ringing)
        );
    }
}
