//! Errors at the HTTP boundary: client faults carry a safe message, everything else is an
//! opaque 500 whose cause chain is logged once.

use std::future::Future;
use std::time::Duration;

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};

use crate::twilio::payloads::PayloadError;

/// Errors a webhook handler returns after the body was verified.
#[derive(Debug, thiserror::Error)]
pub enum WebhookError {
    #[error(transparent)]
    Payload(#[from] PayloadError),
    #[error(transparent)]
    Db(#[from] crate::app::DbError),
    #[error(transparent)]
    Twiml(#[from] crate::twilio::twiml::TwimlError),
    /// The database is away and the routing copy does not know the number: a 503 sends
    /// Twilio to the number's fallback URL, which forwards from its own query.
    #[error(transparent)]
    NoRoute(#[from] crate::app::calls::TakeCallError),
    /// A callback neither written nor spooled.
    #[error(transparent)]
    NotKept(#[from] crate::app::calls::TakeCallbackError),
}

impl ResponseError for WebhookError {
    fn status_code(&self) -> StatusCode {
        match self {
            Self::Payload(_) => StatusCode::BAD_REQUEST,
            Self::Db(_) | Self::Twiml(_) | Self::NotKept(_) => StatusCode::INTERNAL_SERVER_ERROR,
            Self::NoRoute(_) => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    fn error_response(&self) -> HttpResponse {
        match self {
            Self::Payload(error) => {
                tracing::warn!(reason = %error, "webhook payload refused");
                HttpResponse::BadRequest()
                    .content_type("text/plain; charset=utf-8")
                    .body(error.to_string())
            }
            Self::NoRoute(_) => {
                tracing::error!(error = %chain(self), "call to a number the routing copy does not know, with the database away; Twilio will use the number's fallback");
                HttpResponse::ServiceUnavailable()
                    .content_type("text/plain; charset=utf-8")
                    .body("unavailable")
            }
            Self::Db(_) | Self::Twiml(_) | Self::NotKept(_) => {
                tracing::error!(error = %chain(self), "webhook failed");
                // Twilio retries on 5xx, and every webhook write is idempotent.
                HttpResponse::InternalServerError()
                    .content_type("text/plain; charset=utf-8")
                    .body("internal error")
            }
        }
    }
}

/// Errors of the JSON API, answered as `{"error": {"code", "message"}}`.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    Unauthorized(&'static str),
    #[error("{0}")]
    Forbidden(&'static str),
    #[error("{0}")]
    NotFound(&'static str),
    #[error("{message}")]
    BadRequest { code: &'static str, message: String },
    #[error("{message}")]
    Conflict { code: &'static str, message: String },
    #[error("{message}")]
    Unprocessable { code: &'static str, message: String },
    #[error("the request body is larger than {limit} bytes")]
    PayloadTooLarge { limit: usize },
    #[error("the request body must be application/json")]
    UnsupportedMediaType,
    /// A body of another type than the route reads (`415`), such as `text/csv`.
    #[error("the request body must be {0}")]
    MediaTypeNot(&'static str),
    /// A streamed body broke off after part of it was written; the message says how much.
    #[error("{message}")]
    Incomplete {
        status: StatusCode,
        code: &'static str,
        message: String,
    },
    #[error("the request body was not received in time")]
    RequestTimeout,
    /// Twilio refused a request the caller can fix (another number, another area code):
    /// `422` with Twilio's code and message.
    #[error("{message}")]
    RefusedByTwilio { message: String, twilio_code: i32 },
    /// Twilio refused or could not be reached; its code is passed on when it sent one.
    #[error("{message}")]
    BadGateway {
        code: &'static str,
        message: String,
        twilio_code: Option<i32>,
    },
    /// The database did not finish the request within the API deadline (a statement ran past
    /// it, or no connection came free in time): PostgreSQL stopped the work and rolled it back.
    /// Asking again for the same would most likely meet the same end, so the message says to
    /// ask for less, or later.
    #[error("{}", timeout_message(*.deadline))]
    DatabaseTimeout {
        /// The deadline the request met, when known (see [`within_api_deadline`]).
        deadline: Option<Duration>,
    },
    /// The database could not be reached at all.
    #[error("the database cannot be reached right now; try again in a few minutes")]
    DatabaseUnavailable,
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

/// The JSON body of every API error.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct ErrorDetail {
    /// A stable snake_case code.
    pub code: String,
    /// A sentence for humans.
    pub message: String,
    /// Twilio's error number, when the error came from Twilio.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub twilio_code: Option<i32>,
}

impl ApiError {
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::BadRequest {
            code: "invalid_request",
            message: message.into(),
        }
    }

    fn twilio_code(&self) -> Option<i32> {
        match self {
            Self::BadGateway { twilio_code, .. } => *twilio_code,
            Self::RefusedByTwilio { twilio_code, .. } => Some(*twilio_code),
            _ => None,
        }
    }

    fn code(&self) -> &'static str {
        match self {
            Self::Unauthorized(_) => "unauthorized",
            Self::Forbidden(_) => "forbidden",
            Self::NotFound(_) => "not_found",
            Self::BadRequest { code, .. }
            | Self::Conflict { code, .. }
            | Self::Unprocessable { code, .. }
            | Self::BadGateway { code, .. } => code,
            Self::RefusedByTwilio { .. } => "twilio_refused",
            Self::PayloadTooLarge { .. } => "payload_too_large",
            Self::UnsupportedMediaType | Self::MediaTypeNot(_) => "unsupported_media_type",
            Self::Incomplete { code, .. } => code,
            Self::RequestTimeout => "request_timeout",
            Self::DatabaseTimeout { .. } => "database_timeout",
            Self::DatabaseUnavailable => "database_unavailable",
            Self::Internal(_) => "internal",
        }
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            Self::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            Self::Forbidden(_) => StatusCode::FORBIDDEN,
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::BadRequest { .. } => StatusCode::BAD_REQUEST,
            Self::Conflict { .. } => StatusCode::CONFLICT,
            Self::Unprocessable { .. } | Self::RefusedByTwilio { .. } => {
                StatusCode::UNPROCESSABLE_ENTITY
            }
            Self::PayloadTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            Self::UnsupportedMediaType | Self::MediaTypeNot(_) => {
                StatusCode::UNSUPPORTED_MEDIA_TYPE
            }
            Self::Incomplete { status, .. } => *status,
            Self::RequestTimeout => StatusCode::REQUEST_TIMEOUT,
            Self::BadGateway { .. } => StatusCode::BAD_GATEWAY,
            Self::DatabaseTimeout { .. } | Self::DatabaseUnavailable => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let message = match self {
            Self::Internal(error) => {
                tracing::error!(error = format!("{error:#}"), "API request failed");
                "something went wrong on our side".to_owned()
            }
            other => other.to_string(),
        };
        let body = ErrorBody {
            error: ErrorDetail {
                code: self.code().to_owned(),
                message,
                twilio_code: self.twilio_code(),
            },
        };
        let mut response = HttpResponse::build(self.status_code());
        if matches!(self, Self::Unauthorized(_)) {
            response.insert_header((
                actix_web::http::header::WWW_AUTHENTICATE,
                "Bearer realm=\"calltrack\"",
            ));
        }
        response.json(body)
    }
}

impl From<crate::app::DbError> for ApiError {
    fn from(error: crate::app::DbError) -> Self {
        match error {
            error @ crate::app::DbError::Unavailable { .. } if error.timed_out() => {
                let deadline = API_DEADLINE.try_with(|deadline| *deadline).ok();
                tracing::warn!(error = %chain(&error), ?deadline, "API request stopped at its deadline");
                Self::DatabaseTimeout { deadline }
            }
            crate::app::DbError::Unavailable { .. } => {
                tracing::warn!(error = %chain(&error), "database unavailable");
                Self::DatabaseUnavailable
            }
            crate::app::DbError::NotFound => Self::NotFound("no such resource"),
            other => Self::Internal(other.into()),
        }
    }
}

impl From<crate::app::sessions::SessionError> for ApiError {
    fn from(error: crate::app::sessions::SessionError) -> Self {
        use crate::app::sessions::SessionError;
        match error {
            SessionError::NotFound => Self::NotFound("no such call session"),
            SessionError::UnknownCode => {
                Self::NotFound("no recipient of this campaign has that redemption code")
            }
            e @ SessionError::AlreadyLinked => Self::Conflict {
                code: "already_linked",
                message: e.to_string(),
            },
            SessionError::Db(e) => e.into(),
        }
    }
}

impl From<crate::app::conditions::MarkConditionError> for ApiError {
    fn from(error: crate::app::conditions::MarkConditionError) -> Self {
        use crate::app::conditions::MarkConditionError;
        match error {
            MarkConditionError::NotFound => Self::NotFound("no such call session"),
            e @ MarkConditionError::NoRecipient => Self::Conflict {
                code: "no_recipient",
                message: e.to_string(),
            },
            e @ MarkConditionError::UnknownCondition(_) => Self::Unprocessable {
                code: "inactive_condition",
                message: e.to_string(),
            },
            e @ MarkConditionError::NotManual { .. } => Self::Unprocessable {
                code: "condition_not_manual",
                message: e.to_string(),
            },
            MarkConditionError::Db(e) => e.into(),
        }
    }
}

impl From<crate::app::crm_events::CrmEventError> for ApiError {
    fn from(error: crate::app::crm_events::CrmEventError) -> Self {
        use crate::app::crm_events::CrmEventError;
        match error {
            CrmEventError::NoRecipient => Self::NotFound("no recipient you can see matches"),
            e @ CrmEventError::Ambiguous => Self::Conflict {
                code: "ambiguous_recipient",
                message: e.to_string(),
            },
            e @ CrmEventError::ConflictingRepeat => Self::Conflict {
                code: "conflicting_repeat",
                message: e.to_string(),
            },
            CrmEventError::Db(e) => e.into(),
        }
    }
}

impl From<crate::app::stats::StatsError> for ApiError {
    fn from(error: crate::app::stats::StatsError) -> Self {
        match error {
            crate::app::stats::StatsError::NotFound => Self::NotFound("no such campaign"),
            crate::app::stats::StatsError::Db(e) => e.into(),
        }
    }
}

impl From<crate::app::numbers::NumbersError> for ApiError {
    fn from(error: crate::app::numbers::NumbersError) -> Self {
        use crate::app::numbers::NumbersError;
        use crate::twilio::client::TwilioError;
        use crate::twilio::errors::ErrorClass;
        match error {
            NumbersError::Invalid(message) => Self::bad_request(message),
            NumbersError::NotFound => Self::NotFound("no such campaign or tracked number"),
            e @ NumbersError::ForwardToSelf => Self::Unprocessable {
                code: "forward_to_self",
                message: e.to_string(),
            },
            NumbersError::Conflict(message) => Self::Conflict {
                code: "number_conflict",
                message: message.to_owned(),
            },
            NumbersError::Twilio(error @ TwilioError::Api { .. })
                if error
                    .known()
                    .is_some_and(|known| known.class == ErrorClass::UserFixable) =>
            {
                Self::RefusedByTwilio {
                    message: format!("Twilio refused: {}", error.stored_message()),
                    twilio_code: error.code().unwrap_or_default(),
                }
            }
            NumbersError::Twilio(
                error @ TwilioError::Api {
                    status: 400..=499, ..
                },
            ) => Self::BadGateway {
                code: "twilio_error",
                message: format!("Twilio refused: {}", error.stored_message()),
                twilio_code: error.code(),
            },
            NumbersError::Twilio(error @ TwilioError::Api { .. }) => Self::BadGateway {
                code: "twilio_unavailable",
                message: format!("Twilio failed: {}", error.stored_message()),
                twilio_code: error.code(),
            },
            NumbersError::Twilio(other) => Self::BadGateway {
                code: "twilio_unavailable",
                message: format!("Twilio could not be reached: {other}"),
                twilio_code: None,
            },
            e @ NumbersError::PurchaseUnknown { .. } => Self::BadGateway {
                code: "twilio_outcome_unknown",
                message: e.to_string(),
                twilio_code: None,
            },
            NumbersError::Db(e) => e.into(),
        }
    }
}

impl From<crate::app::credentials::CredentialError> for ApiError {
    fn from(error: crate::app::credentials::CredentialError) -> Self {
        use crate::app::credentials::CredentialError;
        match error {
            CredentialError::UnknownApiKey => Self::Unauthorized("unknown API key"),
            CredentialError::Db(e) => e.into(),
        }
    }
}

tokio::task_local! {
    /// `API_DEADLINE_MS` of the API request being handled, for its `503` to name.
    static API_DEADLINE: Duration;
}

/// Handles an API request with `deadline` known to its errors: a database timeout met
/// while `handling` becomes [`ApiError::DatabaseTimeout`] naming it. (A database error
/// reaches [`ApiError`] through `From` impls, which cannot be handed the settings.)
pub async fn within_api_deadline<F: Future>(deadline: Duration, handling: F) -> F::Output {
    API_DEADLINE.scope(deadline, handling).await
}

/// What a caller whose request met the deadline reads.
fn timeout_message(deadline: Option<Duration>) -> String {
    let within = deadline.map_or_else(
        || "in time".to_owned(),
        |deadline| format!("within {}", seconds(deadline)),
    );
    format!(
        "the database did not answer {within}, so the request was stopped; ask for less (a shorter date range, a narrower filter) or try again later"
    )
}

/// `5 s`, `1.5 s`, `0.25 s`.
fn seconds(duration: Duration) -> String {
    let text = format!("{:.3}", duration.as_secs_f64());
    format!("{} s", text.trim_end_matches('0').trim_end_matches('.'))
}

/// An error and its causes on one line, for a log.
fn chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

// Setting up a campaign without SQL: campaigns, conditions and rewards, pools and cards.

impl From<crate::app::campaigns::CampaignError> for ApiError {
    fn from(error: crate::app::campaigns::CampaignError) -> Self {
        use crate::app::campaigns::CampaignError;
        match error {
            CampaignError::NotFound => Self::NotFound("no such campaign or client"),
            e @ CampaignError::ClientRequired => Self::Unprocessable {
                code: "client_required",
                message: e.to_string(),
            },
            CampaignError::Invalid(e) => Self::Unprocessable {
                code: "invalid_campaign",
                message: e.to_string(),
            },
            CampaignError::Db(e) => e.into(),
        }
    }
}

impl From<crate::app::condition_setup::ConditionSetupError> for ApiError {
    fn from(error: crate::app::condition_setup::ConditionSetupError) -> Self {
        use crate::app::condition_setup::ConditionSetupError;
        match error {
            ConditionSetupError::NotFound => Self::NotFound("no such campaign"),
            ConditionSetupError::Invalid(e) => Self::Unprocessable {
                code: "invalid_condition",
                message: e.to_string(),
            },
            e @ ConditionSetupError::PoolNotUsable(_) => Self::Unprocessable {
                code: "pool_not_usable",
                message: e.to_string(),
            },
            e @ ConditionSetupError::RewardInUse(_) => Self::Conflict {
                code: "reward_in_use",
                message: e.to_string(),
            },
            ConditionSetupError::Db(e) => e.into(),
        }
    }
}

impl From<crate::app::gift_card_pools::PoolError> for ApiError {
    fn from(error: crate::app::gift_card_pools::PoolError) -> Self {
        use crate::app::gift_card_pools::PoolError;
        match error {
            PoolError::NotFound => Self::NotFound("no such client"),
            e @ PoolError::ClientRequired => Self::Unprocessable {
                code: "client_required",
                message: e.to_string(),
            },
            PoolError::Invalid(e) => Self::Unprocessable {
                code: "invalid_pool",
                message: e.to_string(),
            },
            PoolError::Db(e) => e.into(),
        }
    }
}

impl From<crate::app::gift_card_pools::AddCardsError> for ApiError {
    fn from(error: crate::app::gift_card_pools::AddCardsError) -> Self {
        use crate::app::gift_card_pools::AddCardsError;
        match error {
            AddCardsError::UnknownPool(_) => Self::NotFound("no such gift card pool"),
            // Only the command line refuses a file for a missing value; the API lists the
            // lines instead, so this is not expected here.
            e @ AddCardsError::MissingValue { .. } => Self::Unprocessable {
                code: "invalid_csv",
                message: e.to_string(),
            },
            AddCardsError::Db(e) => e.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_timeout_names_the_deadline_in_seconds() {
        let message = |ms| {
            ApiError::DatabaseTimeout {
                deadline: Some(Duration::from_millis(ms)),
            }
            .to_string()
        };
        assert!(
            message(5000)
                .starts_with("the database did not answer within 5 s, so the request was stopped;")
        );
        assert!(message(1500).contains("within 1.5 s,"));
        assert!(message(250).contains("within 0.25 s,"));
        assert!(message(60_000).contains("within 60 s,"));
        assert!(
            ApiError::DatabaseTimeout { deadline: None }
                .to_string()
                .starts_with("the database did not answer in time, so the request was stopped;")
        );
    }
}
