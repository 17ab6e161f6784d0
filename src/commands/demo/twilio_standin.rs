//! The demo's stand-in for Twilio's REST API: it sells a number, answers the call log,
//! accepts the reward SMS and reports its delivery, so the tour needs no Twilio account.

use std::sync::Arc;
use std::time::{Duration, Instant};

use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use rand::Rng as _;
use tokio::sync::Mutex;

use super::TRACKED;

use crate::twilio::form::FormPairs;
use crate::twilio::signature;
use crate::twilio::simulated::{random_sid, sms_status};

/// A message the stand-in accepted.
#[derive(Clone)]
pub(super) struct SentSms {
    pub(super) to: String,
    pub(super) body: String,
}

#[derive(Clone, Default)]
struct FakeState {
    sent: Arc<Mutex<Vec<SentSms>>>,
    auth_token: Arc<Mutex<Option<secrecy::SecretString>>>,
}

/// Stands in for Twilio's REST API in the demo: accepts messages, then reports them delivered
/// through the signed status callback, as Twilio would; sells, points and releases made-up
/// numbers; and answers the call log `serve` reads at start-up.
pub(super) struct FakeTwilio {
    pub(super) base_url: String,
    state: FakeState,
}

impl FakeTwilio {
    pub(super) async fn start() -> anyhow::Result<Self> {
        let state = FakeState::default();
        let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
        let base_url = format!("http://{}", listener.local_addr()?);
        let data = web::Data::new(state.clone());
        // One worker is plenty for a handful of messages; the demo stops it by exiting.
        let server = HttpServer::new(move || {
            App::new()
                .app_data(data.clone())
                .route(
                    "/2010-04-01/Accounts/{account}/Messages.json",
                    web::post().to(accept_message),
                )
                .route(
                    "/2010-04-01/Accounts/{account}/Calls.json",
                    web::get().to(list_calls),
                )
                .route(
                    "/2010-04-01/Accounts/{account}/IncomingPhoneNumbers.json",
                    web::post().to(sell_number),
                )
                .route(
                    "/2010-04-01/Accounts/{account}/IncomingPhoneNumbers/{sid}.json",
                    web::post().to(update_number),
                )
                .route(
                    "/2010-04-01/Accounts/{account}/IncomingPhoneNumbers/{sid}.json",
                    web::delete().to(release_number),
                )
        })
        .workers(1)
        .disable_signals()
        .listen(listener)?
        .run();
        tokio::spawn(server);
        Ok(Self { base_url, state })
    }

    pub(super) async fn sign_with(&self, token: secrecy::SecretString) {
        *self.state.auth_token.lock().await = Some(token);
    }

    pub(super) async fn wait_for_messages(
        &self,
        count: usize,
        limit: Duration,
    ) -> anyhow::Result<Vec<SentSms>> {
        let started = Instant::now();
        loop {
            let sent = self.state.sent.lock().await;
            if sent.len() >= count {
                return Ok(sent[..count].to_vec());
            }
            drop(sent);
            anyhow::ensure!(started.elapsed() < limit, "no SMS was sent in time");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

/// Sells a made-up number in the requested area code (or the exact one asked for), so the
/// manager console's "Buy a number" works in the demo without a Twilio account.
async fn sell_number(body: String) -> HttpResponse {
    let form = FormPairs::parse(body.as_bytes()).unwrap_or_default();
    let number = match (form.get("PhoneNumber"), form.get("AreaCode")) {
        (Some(exact), _) => exact.to_owned(),
        (None, Some(area)) if area.len() == 3 && area.bytes().all(|b| b.is_ascii_digit()) => {
            format!(
                "+1{area}555{:04}",
                rand::thread_rng().gen_range(1000..10_000)
            )
        }
        _ => {
            return HttpResponse::BadRequest().json(serde_json::json!({
                "code": 21451, "message": "Invalid area code", "status": 400,
            }));
        }
    };
    HttpResponse::Created().json(serde_json::json!({
        "sid": random_sid("PN"),
        "phone_number": number,
        "friendly_name": form.get("FriendlyName"),
        "voice_url": form.get("VoiceUrl"),
    }))
}

/// The account's call log, one page of it as Twilio pages it. The demo plays its calls
/// straight to the server, never through the stand-in, so the log is empty: the first page is
/// the last one (`next_page_uri` null), and the start-up reconciliation finds nothing to fill.
async fn list_calls(req: HttpRequest) -> HttpResponse {
    let query = FormPairs::parse(req.query_string().as_bytes()).unwrap_or_default();
    let page_size = query
        .get("PageSize")
        .and_then(|size| size.parse::<u32>().ok())
        .unwrap_or(50);
    let uri = if req.query_string().is_empty() {
        req.path().to_owned()
    } else {
        format!("{}?{}", req.path(), req.query_string())
    };
    HttpResponse::Ok().json(serde_json::json!({
        "calls": [],
        "page": 0,
        "page_size": page_size,
        "start": 0,
        "end": 0,
        "uri": uri,
        "first_page_uri": uri,
        "previous_page_uri": null,
        "next_page_uri": null,
    }))
}

async fn update_number(path: web::Path<(String, String)>, body: String) -> HttpResponse {
    let form = FormPairs::parse(body.as_bytes()).unwrap_or_default();
    HttpResponse::Ok().json(serde_json::json!({
        "sid": path.into_inner().1,
        "phone_number": TRACKED,
        "voice_url": form.get("VoiceUrl"),
    }))
}

async fn release_number() -> HttpResponse {
    HttpResponse::NoContent().finish()
}

async fn accept_message(
    state: web::Data<FakeState>,
    account: web::Path<String>,
    body: String,
) -> HttpResponse {
    let form = FormPairs::parse(body.as_bytes()).unwrap_or_default();
    let to = form.get("To").unwrap_or_default().to_owned();
    let callback = form.get("StatusCallback").map(str::to_owned);
    let sid = random_sid("SM");
    state.sent.lock().await.push(SentSms {
        to: to.clone(),
        body: form.get("Body").unwrap_or_default().to_owned(),
    });
    if let (Some(callback), Some(token)) = (callback, state.auth_token.lock().await.clone()) {
        let (sid, to) = (sid.clone(), to.clone());
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(500)).await;
            let form = sms_status(&sid, &to, "delivered", None);
            let signature =
                signature::compute(crate::twilio::token_bytes(&token), &callback, form.pairs());
            let _ = reqwest::Client::new()
                .post(&callback)
                .header("content-type", "application/x-www-form-urlencoded")
                .header("x-twilio-signature", signature)
                .body(form.encode())
                .send()
                .await;
        });
    }
    HttpResponse::Created().json(serde_json::json!({
        "sid": sid,
        "status": "queued",
        "to": to,
        "account_sid": account.into_inner(),
    }))
}
