//! `calltrack simulate call`: plays Twilio's side of one call against a running server,
//! signing every webhook as Twilio would, and prints each request and answer.

use anyhow::{Context as _, bail};
use chrono::{Duration, Utc};

use secrecy::SecretString;

use crate::config::{self, PublicBaseUrl, SimulateSettings};
use crate::domain::E164;
use crate::tools::fixtures::{Fixture, SimulatedCall};
use crate::twilio::form::FormPairs;
use crate::twilio::signature;

#[derive(Debug, Clone, clap::Args)]
pub struct CallArgs {
    /// The tracked number dialled (E.164).
    #[arg(long)]
    pub to: String,
    /// The caller's number (E.164), or `anonymous`.
    #[arg(long)]
    pub from: String,
    /// Where the server listens; defaults to PUBLIC_BASE_URL, else http://BIND_ADDR.
    #[arg(long)]
    pub url: Option<String>,
    /// The business answers the forwarded call (the default).
    #[arg(long, overrides_with = "no_answer")]
    pub answer: bool,
    /// The business does not answer.
    #[arg(long = "no-answer")]
    pub no_answer: bool,
    /// How long the business and the caller talk, in seconds.
    #[arg(long, default_value_t = 30)]
    pub duration: u32,
}

/// One webhook the simulator sent, and what came back.
#[derive(Debug, Clone)]
pub struct Exchange {
    pub label: String,
    pub path: &'static str,
    pub status: u16,
    pub body: String,
}

/// Where to send webhooks, and what to sign them with.
#[derive(Debug, Clone)]
pub struct Target {
    /// Where the server listens.
    pub send_to: String,
    /// The URL Twilio would sign: the server's PUBLIC_BASE_URL.
    pub signed_as: PublicBaseUrl,
    pub auth_token: SecretString,
}

impl Target {
    /// A POST of `form` to `path`, signed exactly as Twilio signs it.
    pub fn signed_post(
        &self,
        http: &reqwest::Client,
        path: &str,
        form: &FormPairs,
    ) -> reqwest::RequestBuilder {
        let signature = signature::compute(
            config::token_bytes(&self.auth_token),
            &self.signed_as.requested(path),
            form.pairs(),
        );
        http.post(format!("{}{path}", self.send_to))
            .header("content-type", "application/x-www-form-urlencoded")
            .header("x-twilio-signature", signature)
            .body(form.encode())
    }
}

/// `simulate call`: signs with `settings.auth_token` against `settings.public_base_url` and
/// sends to `--url`, by default that same URL.
pub async fn call(args: CallArgs, settings: SimulateSettings) -> anyhow::Result<()> {
    let send_to = args
        .url
        .clone()
        .unwrap_or_else(|| settings.public_base_url.as_str().to_owned())
        .trim_end_matches('/')
        .to_owned();
    let target = Target {
        send_to,
        signed_as: settings.public_base_url,
        auth_token: settings.auth_token,
    };
    let answered = !args.no_answer;
    println!(
        "Simulating a call from {} to {} ({}, {} s) against {}",
        args.from,
        args.to,
        if answered { "answered" } else { "not answered" },
        args.duration,
        target.send_to
    );
    play(
        &target,
        &args.from,
        &args.to,
        answered,
        args.duration,
        |exchange| {
            println!(
                "\n→ POST {} ({})\n← {}",
                exchange.path, exchange.label, exchange.status
            );
            if !exchange.body.trim().is_empty() {
                println!("{}", exchange.body.trim_end());
            }
        },
    )
    .await?;
    Ok(())
}

/// Plays a whole call: the voice webhook, the forwarded leg's status callbacks, the dial
/// action, the recording (when the answer records) and the parent's final status.
/// Stops after the voice webhook when the answer does not forward the call.
pub async fn play(
    target: &Target,
    from: &str,
    to: &str,
    answered: bool,
    talk_seconds: u32,
    mut report: impl FnMut(&Exchange),
) -> anyhow::Result<SimulatedCall> {
    let to = E164::parse(to).context("--to is not a phone number")?;
    let http = reqwest::Client::new();
    let mut call = SimulatedCall::new(from, to.as_str(), "");
    let voice = send(
        &http,
        target,
        "/twilio/voice",
        "incoming call",
        &call.voice(),
    )
    .await?;
    report(&voice);
    if voice.status != 200 {
        bail!("the voice webhook answered {}", voice.status);
    }
    let Some(forward_to) = dialled_number(&voice.body) else {
        return Ok(call);
    };
    call.forward_to = forward_to;
    let records = voice.body.contains("record=");
    let start = Utc::now();
    let at = |s: u32| start + Duration::seconds(i64::from(s));
    let ring = 6;
    let mut steps: Vec<(&'static str, &'static str, FormPairs)> = vec![
        (
            "/twilio/status",
            "forwarded leg: initiated",
            call.child_status(Fixture::StatusChildInitiated, at(0)),
        ),
        (
            "/twilio/status",
            "forwarded leg: ringing",
            call.child_status(Fixture::StatusChildRinging, at(1)),
        ),
    ];
    if answered {
        steps.extend([
            (
                "/twilio/status",
                "forwarded leg: answered",
                call.child_status(Fixture::StatusChildAnswered, at(ring)),
            ),
            (
                "/twilio/status",
                "forwarded leg: completed",
                call.child_completed(talk_seconds, at(ring + talk_seconds)),
            ),
            (
                "/twilio/dial-complete",
                "dial action: completed",
                call.dial_action("completed", talk_seconds, records),
            ),
        ]);
        if records {
            steps.push((
                "/twilio/recording",
                "recording completed",
                call.recording(talk_seconds.saturating_sub(1)),
            ));
        }
    } else {
        steps.extend([
            (
                "/twilio/status",
                "forwarded leg: no-answer",
                call.child_status(Fixture::StatusChildNoAnswer, at(25)),
            ),
            (
                "/twilio/dial-complete",
                "dial action: no-answer",
                call.dial_action("no-answer", 0, false),
            ),
        ]);
    }
    let total = if answered {
        ring + talk_seconds + 1
    } else {
        26
    };
    steps.push((
        "/twilio/status",
        "call completed",
        call.parent_completed(total, at(total)),
    ));
    for (path, label, form) in steps {
        let exchange = send(&http, target, path, label, &form).await?;
        report(&exchange);
        if !(200..300).contains(&exchange.status) {
            bail!("{path} answered {}", exchange.status);
        }
    }
    Ok(call)
}

async fn send(
    http: &reqwest::Client,
    target: &Target,
    path: &'static str,
    label: &str,
    form: &FormPairs,
) -> anyhow::Result<Exchange> {
    let response = target
        .signed_post(http, path, form)
        .header("user-agent", "TwilioProxy/1.1 (calltrack simulate)")
        .send()
        .await
        .with_context(|| format!("cannot reach {}{path}", target.send_to))?;
    let status = response.status().as_u16();
    let body = response.text().await.unwrap_or_default();
    Ok(Exchange {
        label: label.to_owned(),
        path,
        status,
        body,
    })
}

/// The number a forwarding answer dials: the text of its `<Number>`.
fn dialled_number(twiml: &str) -> Option<String> {
    let start = twiml.find("<Number")?;
    let open_end = start + twiml[start..].find('>')? + 1;
    let close = open_end + twiml[open_end..].find("</Number>")?;
    Some(twiml[open_end..close].trim().to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_dialled_number_in_a_forwarding_answer() {
        let twiml = r#"<Response><Dial action="x"><Number statusCallback="y">+14155550199</Number></Dial></Response>"#;
        assert_eq!(dialled_number(twiml).as_deref(), Some("+14155550199"));
        assert_eq!(dialled_number("<Response><Reject/></Response>"), None);
    }
}
