//! The call flow's own webhooks: the whisper and key press that screen a call for the
//! business, and the voicemail the caller leaves when the business does not take it. None
//! needs the database to answer: the whisper comes in the screening URL the voice answer
//! built (or, for a URL that does not carry it, from the routing copy), and what they record
//! goes through [`crate::app::calls`] (or its spool) like every callback.

use actix_web::{HttpRequest, HttpResponse, web};

use super::{query_value, twiml_response, with_query};
use crate::app::calls::{self, Callback};
use crate::routes::AppState;
use crate::routes::error::WebhookError;
use crate::twilio::extract::VerifiedForm;
use crate::twilio::payloads::{RecordingCallback, ScreenAccept};
use crate::twilio::screening::{self, Screening};

/// `<Number url>`: the business picked up. It hears the whisper and, when the number screens,
/// must press a key to take the call; no key hangs up its leg and the caller goes to
/// voicemail. The query (signed by Twilio with the URL) names the call and carries the
/// screening the voice answer decided, so a change this instance has not loaded yet (made
/// through another instance a moment before the call) is followed all the same.
#[tracing::instrument(skip_all, fields(call.sid))]
pub async fn screen(
    state: web::Data<AppState>,
    request: HttpRequest,
    VerifiedForm(_form): VerifiedForm,
) -> Result<HttpResponse, WebhookError> {
    let query = screening::read(request.query_string());
    if let Some(parent) = &query.parent {
        tracing::Span::current().record("call.sid", parent.as_str());
    }
    // URLs from before the screening travelled in them (calls in flight across an upgrade),
    // or a whisper too long to carry: the routing copy's flow.
    let screening = query.screening.or_else(|| {
        let flow = state.calls.routing.lookup(query.number.as_ref()?)?.flow;
        Some(Screening {
            keypress: flow.screens(),
            whisper: flow.whisper?,
        })
    });
    let (Some(screening), Some(parent)) = (screening, query.parent) else {
        // Nothing to play (a URL that does not carry the whisper, for a number the copy does
        // not know or knows without one) or no call to accept: connect rather than lose it.
        tracing::warn!("screening request without a whisper or a call; connecting");
        return Ok(twiml_response(state.twiml.screen_accepted()?));
    };
    let accept_url = screening.keypress.then(|| {
        with_query(
            &state.public_base_url,
            "/twilio/screen-accept",
            &[("parent", parent.as_str())],
        )
    });
    Ok(twiml_response(
        state
            .twiml
            .screen(&screening.whisper, accept_url.as_deref())?,
    ))
}

/// The screening `<Gather>` action: a key was pressed, so a person took the call.
#[tracing::instrument(skip_all, fields(call.sid))]
pub async fn screen_accept(
    state: web::Data<AppState>,
    request: HttpRequest,
    VerifiedForm(mut form): VerifiedForm,
) -> Result<HttpResponse, WebhookError> {
    // The accepted call is the parent; the signed query names it. Kept in the form so a
    // spooled accept replays with it.
    if form.get("ParentCallSid").is_none_or(str::is_empty)
        && let Some(parent) = query_value(request.query_string(), "parent")
    {
        form.set("ParentCallSid", parent);
    }
    let accept = ScreenAccept::from_form(&form)?;
    tracing::Span::current().record("call.sid", accept.parent_call_sid.as_str());
    let accepted = accept.accepted;
    calls::take_callback(&state.calls, &Callback::ScreenAccept(accept), &form).await?;
    Ok(twiml_response(if accepted {
        state.twiml.screen_accepted()?
    } else {
        state.twiml.hangup()?
    }))
}

/// The recording callback of calltrack's voicemail: the message lands on the session.
#[tracing::instrument(skip_all, fields(call.sid))]
pub async fn voicemail(
    state: web::Data<AppState>,
    VerifiedForm(form): VerifiedForm,
) -> Result<HttpResponse, WebhookError> {
    let callback = RecordingCallback::from_form(&form)?;
    tracing::Span::current().record("call.sid", callback.call_sid.as_str());
    calls::take_callback(&state.calls, &Callback::Voicemail(callback), &form).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// The `<Record action>`: the message is recorded (its callback comes separately); goodbye.
pub async fn voicemail_done(
    state: web::Data<AppState>,
    VerifiedForm(_form): VerifiedForm,
) -> Result<HttpResponse, WebhookError> {
    Ok(twiml_response(state.twiml.hangup()?))
}
