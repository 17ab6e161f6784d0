//! `calltrack simulate call`: plays Twilio's side of one call against a running server,
//! signing every webhook as Twilio would, and prints each request and answer. It follows
//! the server's TwiML as Twilio does: the `<Number url>` that screens the call, the
//! `<Gather action>` the business answers, the `<Record>` a caller leaves a message in.

use anyhow::{Context as _, bail};
use chrono::{DateTime, Duration, Utc};

use secrecy::SecretString;

use crate::config::SimulateSettings;
use crate::domain::E164;
use crate::twilio::form::FormPairs;
use crate::twilio::signature;
use crate::twilio::simulated::{Fixture, SimulatedCall};
use crate::twilio::{PublicBaseUrl, token_bytes};

/// What happens on the simulated call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Outcome {
    /// The business picks up (and, when the number screens calls, presses a key) and talks.
    Answered,
    /// The business does not pick up; the caller hangs up at the voicemail greeting.
    Missed,
    /// The caller hangs up while the business's phone rings.
    Abandoned,
    /// The business does not pick up; the caller leaves a message in calltrack's voicemail.
    Voicemail,
    /// Like `answered`, but the number must screen the call (a whisper, a key press).
    Screened,
}

impl Outcome {
    fn describe(self) -> &'static str {
        match self {
            Self::Answered => "answered",
            Self::Missed => "not answered",
            Self::Abandoned => "abandoned while ringing",
            Self::Voicemail => "not answered, a voicemail left",
            Self::Screened => "screened, then answered",
        }
    }
}

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
    /// What happens on the call (default: answered).
    #[arg(long, value_enum, conflicts_with_all = ["answer", "no_answer"])]
    pub outcome: Option<Outcome>,
    /// The business answers the forwarded call: `--outcome answered`.
    #[arg(long, overrides_with = "no_answer")]
    pub answer: bool,
    /// The business does not answer: `--outcome missed`.
    #[arg(long = "no-answer")]
    pub no_answer: bool,
    /// How long the business and the caller talk (or the caller's message lasts), in seconds.
    #[arg(long, default_value_t = 30)]
    pub duration: u32,
}

impl CallArgs {
    /// `--outcome`, or what `--answer`/`--no-answer` stand for.
    pub fn outcome(&self) -> Outcome {
        match self.outcome {
            Some(outcome) => outcome,
            None if self.no_answer => Outcome::Missed,
            None => Outcome::Answered,
        }
    }
}

/// One webhook the simulator sent, and what came back.
#[derive(Debug, Clone)]
pub struct Exchange {
    pub label: String,
    /// The path and query posted to.
    pub path: String,
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
            token_bytes(&self.auth_token),
            &self.signed_as.requested(path),
            form.pairs(),
        );
        http.post(format!("{}{path}", self.send_to))
            .header("content-type", "application/x-www-form-urlencoded")
            .header("x-twilio-signature", signature)
            .body(form.encode())
    }

    /// The path and query of a URL the server put in its TwiML, which Twilio would request:
    /// absolute under PUBLIC_BASE_URL (its connection overrides dropped, as Twilio never
    /// sends a fragment) or already relative.
    fn path_of(&self, url: &str) -> anyhow::Result<String> {
        let url = url.split('#').next().unwrap_or_default();
        if let Some(rest) = url.strip_prefix(self.signed_as.as_str())
            && (rest.starts_with('/') || rest.starts_with('?'))
        {
            return Ok(rest.to_owned());
        }
        if url.starts_with('/') {
            return Ok(url.to_owned());
        }
        bail!(
            "the server's answer points Twilio at {url}, which is not under {}; do the server and the simulator have the same PUBLIC_BASE_URL?",
            self.signed_as.as_str()
        )
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
    let outcome = args.outcome();
    println!(
        "Simulating a call from {} to {} ({}, {} s) against {}",
        args.from,
        args.to,
        outcome.describe(),
        args.duration,
        target.send_to
    );
    play(
        &target,
        &args.from,
        &args.to,
        outcome,
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

/// Plays a whole call with `outcome`, in the order Twilio sends its webhooks: the voice
/// webhook, the forwarded leg's status callbacks (and its screening when the answer screens),
/// the dial action (to the URL the answer gave, query and all), the voicemail when the dial action offers one, the parent's final status
/// and the recording. Stops after the voice webhook when the answer does not forward the
/// call (unless it goes straight to a voicemail that `outcome` wants to leave). Fails when
/// the server's answers cannot give `outcome`: no screening for `screened`, no `<Record>` for
/// `voicemail`.
pub async fn play(
    target: &Target,
    from: &str,
    to: &str,
    outcome: Outcome,
    talk_seconds: u32,
    report: impl FnMut(&Exchange),
) -> anyhow::Result<SimulatedCall> {
    let to = E164::parse(to).context("--to is not a phone number")?;
    let mut player = Player {
        http: reqwest::Client::new(),
        target,
        report,
        start: Utc::now(),
    };
    let mut call = SimulatedCall::new(from, to.as_str(), "");
    let voice = player
        .post("/twilio/voice", "incoming call", &call.voice_for_caller())
        .await?;
    let Some(number) = element(&voice.body, "Number") else {
        // Closed: the answer may be the voicemail itself.
        if outcome == Outcome::Voicemail
            && let Some(record) = element(&voice.body, "Record")
        {
            player
                .leave_voicemail(&call, record, talk_seconds, 0)
                .await?;
        }
        return Ok(call);
    };
    call.forward_to = dialled_number(&voice.body).unwrap_or_default();
    let records = voice.body.contains("record=");
    // Its query carries the flow the answer used, which decides the voicemail.
    let dial_action = element(&voice.body, "Dial")
        .and_then(|dial| attribute(dial, "action"))
        .context("the server's <Dial> has no action for the end of the forwarded leg")?;
    let dial_action = target.path_of(&dial_action)?;
    let screen_url = attribute(number, "url");
    if outcome == Outcome::Screened && screen_url.is_none() {
        bail!(
            "the server does not screen calls to {to}: its <Number> has no url (give the number a whisper)"
        );
    }
    let ring = 6;
    player
        .post_at(
            "/twilio/status",
            "forwarded leg: initiated",
            |at| call.child_status(Fixture::StatusChildInitiated, at),
            0,
        )
        .await?;
    player
        .post_at(
            "/twilio/status",
            "forwarded leg: ringing",
            |at| call.child_status(Fixture::StatusChildRinging, at),
            1,
        )
        .await?;
    match outcome {
        Outcome::Answered | Outcome::Screened => {
            player
                .post_at(
                    "/twilio/status",
                    "forwarded leg: answered",
                    |at| call.child_status(Fixture::StatusChildAnswered, at),
                    ring,
                )
                .await?;
            if let Some(url) = screen_url {
                player.screen(&call, &url).await?;
            }
            player
                .post_at(
                    "/twilio/status",
                    "forwarded leg: completed",
                    |at| call.child_completed(talk_seconds, at),
                    ring + talk_seconds,
                )
                .await?;
            player
                .post(
                    &dial_action,
                    "dial action: completed",
                    &call.dial_action("completed", talk_seconds, records),
                )
                .await?;
            let total = ring + talk_seconds + 1;
            player
                .post_at(
                    "/twilio/status",
                    "call completed",
                    |at| call.parent_completed(total, at),
                    total,
                )
                .await?;
            if records {
                // Twilio processes the recording after the call; its callback comes last.
                player
                    .post(
                        "/twilio/recording",
                        "recording completed",
                        &call.recording(talk_seconds.saturating_sub(1)),
                    )
                    .await?;
            }
        }
        Outcome::Missed | Outcome::Voicemail => {
            let rang_out = 25;
            player
                .post_at(
                    "/twilio/status",
                    "forwarded leg: no-answer",
                    |at| call.child_status(Fixture::StatusChildNoAnswer, at),
                    rang_out,
                )
                .await?;
            let after = player
                .post(
                    &dial_action,
                    "dial action: no-answer",
                    &call.dial_action("no-answer", 0, false),
                )
                .await?;
            let record = element(&after.body, "Record");
            match (outcome, record) {
                (Outcome::Voicemail, Some(record)) => {
                    player
                        .leave_voicemail(&call, record, talk_seconds, rang_out + 1)
                        .await?;
                }
                (Outcome::Voicemail, None) => {
                    player.hang_up(&call, rang_out + 1).await?;
                    bail!(
                        "the dial action answered no <Record>: voicemail is off for {to} in the flow the call was forwarded with, so no message could be left"
                    );
                }
                // The caller hangs up at the greeting, or on the hang-up.
                _ => player.hang_up(&call, rang_out + 1).await?,
            }
        }
        Outcome::Abandoned => {
            let hung_up = 8;
            player
                .post_at(
                    "/twilio/status",
                    "forwarded leg: canceled",
                    |at| call.child_canceled(at),
                    hung_up,
                )
                .await?;
            player
                .post(
                    &dial_action,
                    "dial action: canceled",
                    &call.dial_action("canceled", 0, false),
                )
                .await?;
            player.hang_up(&call, hung_up + 1).await?;
        }
    }
    Ok(call)
}

/// Sends the webhooks of one call and reports each exchange.
struct Player<'a, R> {
    http: reqwest::Client,
    target: &'a Target,
    report: R,
    /// When the forwarded leg started; callbacks are timestamped from here.
    start: DateTime<Utc>,
}

impl<R: FnMut(&Exchange)> Player<'_, R> {
    /// Posts `form` to `path` signed, reports the exchange, and fails unless it was `2xx`.
    async fn post(
        &mut self,
        path: &str,
        label: &str,
        form: &FormPairs,
    ) -> anyhow::Result<Exchange> {
        let response = self
            .target
            .signed_post(&self.http, path, form)
            .header("user-agent", "TwilioProxy/1.1 (calltrack simulate)")
            .send()
            .await
            .with_context(|| format!("cannot reach {}{path}", self.target.send_to))?;
        let exchange = Exchange {
            label: label.to_owned(),
            path: path.to_owned(),
            status: response.status().as_u16(),
            body: response.text().await.unwrap_or_default(),
        };
        (self.report)(&exchange);
        if !(200..300).contains(&exchange.status) {
            bail!("{path} answered {}", exchange.status);
        }
        Ok(exchange)
    }

    /// Like [`Self::post`], for a callback Twilio sends `seconds` into the call.
    async fn post_at(
        &mut self,
        path: &str,
        label: &str,
        form: impl FnOnce(DateTime<Utc>) -> FormPairs,
        seconds: u32,
    ) -> anyhow::Result<Exchange> {
        let form = form(self.start + Duration::seconds(i64::from(seconds)));
        self.post(path, label, &form).await
    }

    /// The business picked up a screened call: Twilio asks the `<Number url>` what to play
    /// to it, and the business presses 1 when the answer `<Gather>`s a key.
    async fn screen(&mut self, call: &SimulatedCall, url: &str) -> anyhow::Result<()> {
        let path = self.target.path_of(url)?;
        let whisper = self
            .post(
                &path,
                "screening: the business hears the whisper",
                &call.screen_request(),
            )
            .await?;
        if let Some(gather) = element(&whisper.body, "Gather") {
            let action = attribute(gather, "action")
                .context("the screening answer's <Gather> has no action")?;
            let path = self.target.path_of(&action)?;
            self.post(
                &path,
                "screening: the business presses 1",
                &call.screen_accept("1"),
            )
            .await?;
        }
        Ok(())
    }

    /// The caller leaves a `seconds`-long message in the `<Record>` (`record` is its tag),
    /// `after` seconds into the call: the record action when the caller hangs up, the call's
    /// end, then the recording's callback once Twilio has processed it.
    async fn leave_voicemail(
        &mut self,
        call: &SimulatedCall,
        record: &str,
        seconds: u32,
        after: u32,
    ) -> anyhow::Result<()> {
        let callback = attribute(record, "recordingStatusCallback").context(
            "the server's <Record> has no recordingStatusCallback to send the message to",
        )?;
        let callback = self.target.path_of(&callback)?;
        let ended = after + seconds + 5;
        if let Some(action) = attribute(record, "action") {
            let path = self.target.path_of(&action)?;
            self.post(
                &path,
                "voicemail: the caller hangs up",
                &call.voicemail_done(seconds),
            )
            .await?;
        }
        self.hang_up(call, ended).await?;
        self.post(
            &callback,
            "voicemail recorded",
            &call.voicemail_recording(seconds),
        )
        .await?;
        Ok(())
    }

    /// The number's own status callback: the call ended `seconds` in.
    async fn hang_up(&mut self, call: &SimulatedCall, seconds: u32) -> anyhow::Result<()> {
        self.post_at(
            "/twilio/status",
            "call completed",
            |at| call.parent_completed(seconds, at),
            seconds,
        )
        .await?;
        Ok(())
    }
}

/// The opening tag of the first `<name ...>` element of `twiml`.
fn element<'a>(twiml: &'a str, name: &str) -> Option<&'a str> {
    let open = format!("<{name}");
    let mut from = 0;
    while let Some(found) = twiml[from..].find(&open) {
        let start = from + found;
        let after = start + open.len();
        if twiml[after..].starts_with(|c: char| c.is_whitespace() || c == '>' || c == '/') {
            let end = after + twiml[after..].find('>')? + 1;
            return Some(&twiml[start..end]);
        }
        from = after;
    }
    None
}

/// The value of attribute `name` in an opening tag, with XML's escapes undone.
fn attribute(tag: &str, name: &str) -> Option<String> {
    let key = format!("{name}=\"");
    let mut from = 0;
    while let Some(found) = tag[from..].find(&key) {
        let start = from + found;
        let value = start + key.len();
        if tag[..start].ends_with(char::is_whitespace) {
            let end = value + tag[value..].find('"')?;
            return Some(xml_unescape(&tag[value..end]));
        }
        from = value;
    }
    None
}

fn xml_unescape(value: &str) -> String {
    value
        .replace("&quot;", "\"")
        .replace("&apos;", "'")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

/// The number a forwarding answer dials: the text of its `<Number>`.
fn dialled_number(twiml: &str) -> Option<String> {
    let open = element(twiml, "Number")?;
    let open_end = twiml.find(open)? + open.len();
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

    #[test]
    fn reads_the_urls_the_server_points_twilio_at() {
        let twiml = r#"<Response><Dial action="https://h/twilio/dial-complete" method="POST" record="record-from-answer-dual" recordingStatusCallback="https://h/twilio/recording">
    <Number url="https://h/twilio/screen?number=%2B18005550123&amp;parent=CA1" method="POST" statusCallback="https://h/twilio/status">+14155550199</Number></Dial></Response>"#;
        let number = element(twiml, "Number").unwrap();
        assert_eq!(
            attribute(number, "url").as_deref(),
            Some("https://h/twilio/screen?number=%2B18005550123&parent=CA1")
        );
        assert_eq!(dialled_number(twiml).as_deref(), Some("+14155550199"));
        let dial = element(twiml, "Dial").unwrap();
        assert_eq!(
            attribute(dial, "recordingStatusCallback").as_deref(),
            Some("https://h/twilio/recording")
        );
        assert_eq!(attribute(dial, "url"), None);
        assert_eq!(element("<Response><Numbers/></Response>", "Number"), None);
        let record = element(r#"<Record maxLength="120" action="a"/>"#, "Record").unwrap();
        assert_eq!(attribute(record, "action").as_deref(), Some("a"));
    }

    #[test]
    fn twiml_urls_become_paths_under_the_public_base_url() {
        let target = Target {
            send_to: "http://127.0.0.1:8080".into(),
            signed_as: PublicBaseUrl::parse("https://calltrack.example.com/ct#rc=2").unwrap(),
            auth_token: SecretString::from("t"),
        };
        assert_eq!(
            target
                .path_of("https://calltrack.example.com/ct/twilio/screen?parent=CA1#rc=2")
                .unwrap(),
            "/twilio/screen?parent=CA1"
        );
        assert_eq!(
            target.path_of("/twilio/voicemail").unwrap(),
            "/twilio/voicemail"
        );
        assert!(target.path_of("https://elsewhere.example.com/x").is_err());
    }

    #[test]
    fn answer_and_no_answer_are_aliases_of_outcomes() {
        use clap::Parser as _;
        #[derive(clap::Parser)]
        struct Cli {
            #[command(flatten)]
            call: CallArgs,
        }
        let parse = |extra: &[&str]| {
            let mut args = vec!["x", "--to", "+18005550123", "--from", "+14155550100"];
            args.extend_from_slice(extra);
            Cli::try_parse_from(args).map(|c| c.call.outcome())
        };
        assert_eq!(parse(&[]).unwrap(), Outcome::Answered);
        assert_eq!(parse(&["--answer"]).unwrap(), Outcome::Answered);
        assert_eq!(parse(&["--no-answer"]).unwrap(), Outcome::Missed);
        assert_eq!(
            parse(&["--outcome", "voicemail"]).unwrap(),
            Outcome::Voicemail
        );
        assert_eq!(
            parse(&["--outcome", "screened"]).unwrap(),
            Outcome::Screened
        );
        assert!(parse(&["--outcome", "missed", "--answer"]).is_err());
        assert!(parse(&["--outcome", "sideways"]).is_err());
    }
}
