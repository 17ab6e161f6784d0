//! What every request passes through: its id, its span, its metrics, a deadline on its body,
//! and the JSON API's caching and sniffing headers.

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use actix_web::body::MessageBody;
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::error::PayloadError;
use actix_web::http::header::{CACHE_CONTROL, HeaderName, HeaderValue, X_CONTENT_TYPE_OPTIONS};
use actix_web::middleware::Next;
use actix_web::{Error, HttpMessage as _, web};
use futures::Stream;
use tracing::Span;
use tracing_actix_web::RootSpanBuilder;

const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Where the JSON API lives; its unknown routes answer in its error shape too.
const API_PREFIX: &str = "/api/";

/// The id of one request: the caller's `x-request-id` when it is a sane token, else a new one.
#[derive(Debug, Clone)]
pub struct RequestId(HeaderValue);

impl RequestId {
    fn of(req: &ServiceRequest) -> Self {
        let given = req.headers().get(&REQUEST_ID).filter(|v| {
            let bytes = v.as_bytes();
            (1..=128).contains(&bytes.len()) && bytes.iter().all(u8::is_ascii_graphic)
        });
        Self(given.cloned().unwrap_or_else(|| {
            HeaderValue::from_str(&uuid::Uuid::new_v4().to_string())
                .unwrap_or_else(|_| HeaderValue::from_static("unknown"))
        }))
    }

    pub fn as_str(&self) -> &str {
        self.0.to_str().unwrap_or_default()
    }
}

/// Gives the request its id before anything else runs and echoes it on the response.
pub async fn request_id(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, Error> {
    let id = RequestId::of(&req);
    req.extensions_mut().insert(id.clone());
    let mut response = next.call(req).await?;
    response.headers_mut().insert(REQUEST_ID, id.0);
    Ok(response)
}

/// The root span of a request: method, route template, path and request id; the status is
/// recorded when the answer is ready. Query strings stay out of logs (they may hold numbers).
pub struct RequestSpan;

impl RootSpanBuilder for RequestSpan {
    fn on_request_start(request: &ServiceRequest) -> Span {
        let id = request
            .extensions()
            .get::<RequestId>()
            .map(|id| id.as_str().to_owned())
            .unwrap_or_default();
        tracing::info_span!(
            "request",
            method = method_label(request.method()),
            route = request.match_pattern().as_deref().unwrap_or("unmatched"),
            path = %request.path(),
            request_id = %id,
            status = tracing::field::Empty,
        )
    }

    fn on_request_end<B: MessageBody>(span: Span, outcome: &Result<ServiceResponse<B>, Error>) {
        let status = match outcome {
            Ok(response) => response.status(),
            Err(error) => error.as_response_error().status_code(),
        };
        span.record("status", status.as_u16());
    }
}

/// The methods the service knows; anything invented is `other`, so a client cannot grow the
/// metrics by making methods up.
pub fn method_label(method: &actix_web::http::Method) -> &'static str {
    use actix_web::http::Method;
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        _ => "other",
    }
}

/// Counts and times every request by its route template, method and status.
pub async fn track_http(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, Error> {
    let method = method_label(req.method());
    let started = Instant::now();
    let outcome = next.call(req).await;
    let (route, status) = match &outcome {
        Ok(response) => (
            response.request().match_pattern(),
            response.status().as_u16(),
        ),
        Err(error) => (None, error.as_response_error().status_code().as_u16()),
    };
    crate::metrics::http_request(
        route.as_deref().unwrap_or("unmatched"),
        method,
        status,
        started.elapsed(),
    );
    outcome
}

/// How long a client may take to send a request body once its head has arrived.
#[derive(Debug, Clone, Copy)]
pub struct BodyDeadline(pub Duration);

/// Bounds the time a request body may take: a client that trickles it, or stops, gets `408`
/// instead of holding a connection and a worker's attention forever. A body the route reads
/// as a stream (a recipients import: up to 50 MB, read as fast as the database writes it)
/// instead gets the deadline afresh each time the handler waits for the next chunk, so it
/// may take as long as it keeps coming.
pub async fn body_deadline(
    mut req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, Error> {
    let deadline = req
        .app_data::<web::Data<BodyDeadline>>()
        .map(|d| d.0)
        .unwrap_or(Duration::from_secs(10));
    let streamed = req.method() == actix_web::http::Method::POST
        && req
            .match_pattern()
            .is_some_and(|p| super::api::recipients::STREAMED_BODIES.contains(&p.as_str()));
    let payload = req.take_payload();
    req.set_payload(Payload::Stream {
        payload: Box::pin(DeadlinePayload {
            inner: payload,
            sleep: Box::pin(tokio::time::sleep(deadline)),
            expired: false,
            idle: streamed.then_some(deadline),
            waiting: false,
        }),
    });
    next.call(req).await
}

struct DeadlinePayload {
    inner: Payload,
    sleep: Pin<Box<tokio::time::Sleep>>,
    expired: bool,
    /// For a streamed body: the deadline starts again with each chunk.
    idle: Option<Duration>,
    waiting: bool,
}

impl Stream for DeadlinePayload {
    type Item = Result<web::Bytes, PayloadError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if self.expired {
            return Poll::Ready(None);
        }
        // A streamed body's deadline runs from when the handler asks for the next chunk: time
        // the handler spends writing what it read is not the client's.
        if let Some(idle) = self.idle
            && !self.waiting
        {
            self.waiting = true;
            self.sleep
                .as_mut()
                .reset(tokio::time::Instant::now() + idle);
        }
        if let Poll::Ready(item) = Pin::new(&mut self.inner).poll_next(cx) {
            self.waiting = false;
            return Poll::Ready(item);
        }
        if self.sleep.as_mut().poll(cx).is_ready() {
            self.expired = true;
            return Poll::Ready(Some(Err(PayloadError::Io(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                "request body not received in time",
            )))));
        }
        Poll::Pending
    }
}

/// Runs every JSON API request with the API deadline known to its errors, so that one the
/// database did not finish in time is answered naming the deadline (see
/// [`super::error::within_api_deadline`]).
pub async fn api_deadline(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, Error> {
    let deadline = req
        .path()
        .starts_with(API_PREFIX)
        .then(|| req.app_data::<web::Data<super::AppState>>())
        .flatten()
        .map(|state| state.api_deadline);
    match deadline {
        Some(deadline) => super::error::within_api_deadline(deadline, next.call(req)).await,
        None => next.call(req).await,
    }
}

/// Marks every JSON API answer, refusals included, as not to be stored by any cache (its
/// answers carry callers' numbers and recipients' names) and not to be sniffed as another type.
/// Installed innermost, where every refusal (an extractor's, a handler's, an unknown route's)
/// is already an answer rather than an error.
pub async fn api_headers(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, Error> {
    let api = req.path().starts_with(API_PREFIX);
    let mut response = next.call(req).await?;
    if api {
        let headers = response.headers_mut();
        headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
        headers.insert(X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    }
    Ok(response)
}
