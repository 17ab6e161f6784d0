//! Twilio's webhooks. Each handler receives a [`VerifiedForm`](crate::twilio::extract::VerifiedForm).

pub mod dial;
pub mod recording;
pub mod sms_status;
pub mod status;
pub mod voice;

use actix_web::HttpResponse;

/// A TwiML answer with the content type Twilio expects.
pub(crate) fn twiml_response(body: String) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/xml; charset=utf-8")
        .body(body)
}
