//! TwiML answers, rendered from the files in `twiml_templates/` with every value XML-escaped.

use minijinja::{Environment, context};

/// What the voice webhook answers for a tracked, active number.
#[derive(Debug, Clone)]
pub struct ForwardCall<'a> {
    pub forward_to: &'a str,
    /// Spoken before the call is forwarded; `None` says nothing.
    pub notice: Option<&'a str>,
    pub record: bool,
    pub dial_action_url: &'a str,
    pub status_callback_url: &'a str,
    pub recording_callback_url: &'a str,
    /// Where Twilio asks what to play to the business when it picks up (the whisper).
    pub screen_url: Option<&'a str>,
}

/// The compiled TwiML templates. Built once at start-up; rendering is cheap.
pub struct Twiml {
    env: Environment<'static>,
}

const TEMPLATES: &[(&str, &str)] = &[
    (
        "voice_forward.xml",
        include_str!("../../twiml_templates/voice_forward.xml"),
    ),
    (
        "reject.xml",
        include_str!("../../twiml_templates/reject.xml"),
    ),
    (
        "number_inactive.xml",
        include_str!("../../twiml_templates/number_inactive.xml"),
    ),
    (
        "dial_complete.xml",
        include_str!("../../twiml_templates/dial_complete.xml"),
    ),
    (
        "unavailable.xml",
        include_str!("../../twiml_templates/unavailable.xml"),
    ),
    (
        "hangup.xml",
        include_str!("../../twiml_templates/hangup.xml"),
    ),
    (
        "screen.xml",
        include_str!("../../twiml_templates/screen.xml"),
    ),
    (
        "screen_accepted.xml",
        include_str!("../../twiml_templates/screen_accepted.xml"),
    ),
    (
        "voicemail.xml",
        include_str!("../../twiml_templates/voicemail.xml"),
    ),
    (
        "closed.xml",
        include_str!("../../twiml_templates/closed.xml"),
    ),
];

#[derive(Debug, thiserror::Error)]
#[error("TwiML template failed to render")]
pub struct TwimlError(#[from] minijinja::Error);

impl Twiml {
    /// Compiles the templates; fails only if a template file is broken, which tests catch.
    pub fn new() -> Result<Self, TwimlError> {
        let mut env = Environment::new();
        // Every interpolated value goes through XML escaping; there is no way to opt out.
        env.set_formatter(|out, _state, value| {
            if value.is_undefined() || value.is_none() {
                return Ok(());
            }
            // Strings (every value but a flag) are escaped in place, without a copy.
            match value.as_str() {
                Some(text) => write_xml_escaped(out, text)?,
                None => write_xml_escaped(out, &value.to_string())?,
            }
            Ok(())
        });
        for (name, source) in TEMPLATES {
            env.add_template(name, source)?;
        }
        Ok(Self { env })
    }

    pub fn forward(&self, call: &ForwardCall<'_>) -> Result<String, TwimlError> {
        self.render(
            "voice_forward.xml",
            context! {
                forward_to => call.forward_to,
                notice => call.notice,
                record => call.record,
                dial_action_url => call.dial_action_url,
                status_callback_url => call.status_callback_url,
                recording_callback_url => call.recording_callback_url,
                screen_url => call.screen_url,
            },
        )
    }

    /// Played to the business when it picks up: the whisper, and with `accept_url` a key
    /// press to take the call (no key hangs up that leg).
    pub fn screen(&self, whisper: &str, accept_url: Option<&str>) -> Result<String, TwimlError> {
        self.render(
            "screen.xml",
            context! { whisper => whisper, accept_url => accept_url },
        )
    }

    /// The business pressed a key: an empty answer connects the caller.
    pub fn screen_accepted(&self) -> Result<String, TwimlError> {
        self.render("screen_accepted.xml", context! {})
    }

    /// The greeting, then a message recorded to `recording_callback_url`.
    pub fn voicemail(
        &self,
        greeting: &str,
        done_url: &str,
        recording_callback_url: &str,
    ) -> Result<String, TwimlError> {
        self.render(
            "voicemail.xml",
            context! {
                greeting => greeting,
                done_url => done_url,
                recording_callback_url => recording_callback_url,
            },
        )
    }

    /// Closed, without voicemail: the greeting and a hang-up.
    pub fn closed(&self, greeting: &str) -> Result<String, TwimlError> {
        self.render("closed.xml", context! { greeting => greeting })
    }

    pub fn reject(&self) -> Result<String, TwimlError> {
        self.render("reject.xml", context! {})
    }

    /// Ends the call without a word: for calls calltrack must not take (not inbound).
    pub fn hangup(&self) -> Result<String, TwimlError> {
        self.render("hangup.xml", context! {})
    }

    pub fn number_inactive(&self) -> Result<String, TwimlError> {
        self.render("number_inactive.xml", context! {})
    }

    /// The fallback answer when the voice webhook failed.
    pub fn unavailable(&self) -> Result<String, TwimlError> {
        self.render("unavailable.xml", context! {})
    }

    pub fn dial_complete(&self) -> Result<String, TwimlError> {
        self.render("dial_complete.xml", context! {})
    }

    fn render(&self, name: &str, ctx: minijinja::Value) -> Result<String, TwimlError> {
        let mut out = self.env.get_template(name)?.render(ctx)?;
        out.push('\n');
        Ok(out)
    }
}

/// Writes `value` with the five XML specials escaped and the characters XML 1.0 forbids
/// outright (which no escape can represent) dropped; runs of plain text go out in one write.
fn write_xml_escaped(out: &mut impl std::fmt::Write, value: &str) -> std::fmt::Result {
    let mut plain = 0;
    for (at, c) in value.char_indices() {
        let replacement = match c {
            '&' => "&amp;",
            '<' => "&lt;",
            '>' => "&gt;",
            '"' => "&quot;",
            '\'' => "&apos;",
            '\t' | '\n' | '\r' => continue,
            c if c < ' ' || c == '\u{FFFE}' || c == '\u{FFFF}' => "",
            _ => continue,
        };
        out.write_str(&value[plain..at])?;
        out.write_str(replacement)?;
        plain = at + c.len_utf8();
    }
    out.write_str(&value[plain..])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call(notice: Option<&'static str>, record: bool) -> ForwardCall<'static> {
        ForwardCall {
            forward_to: "+14155550199",
            notice,
            record,
            dial_action_url: "https://calltrack.example.com/twilio/dial-complete",
            status_callback_url: "https://calltrack.example.com/twilio/status",
            recording_callback_url: "https://calltrack.example.com/twilio/recording",
            screen_url: None,
        }
    }

    #[test]
    fn forward_with_notice_and_recording() {
        let twiml = Twiml::new().unwrap();
        insta::assert_snapshot!(
            twiml
                .forward(&call(Some("This call may be recorded."), true))
                .unwrap()
        );
    }

    #[test]
    fn forward_without_notice_or_recording() {
        let twiml = Twiml::new().unwrap();
        insta::assert_snapshot!(twiml.forward(&call(None, false)).unwrap());
    }

    #[test]
    fn escaping_keeps_multibyte_text_around_the_specials() {
        let mut out = String::new();
        write_xml_escaped(&mut out, "é<ü>&\u{1}ß\"'\u{FFFE}\tend").unwrap();
        assert_eq!(out, "é&lt;ü&gt;&amp;ß&quot;&apos;\tend");
    }

    #[test]
    fn every_value_is_escaped_and_control_characters_dropped() {
        let twiml = Twiml::new().unwrap();
        let hostile = ForwardCall {
            notice: Some("Tom & Jerry's <b>\"deals\"</b>\u{1}\u{7}"),
            dial_action_url: "https://h/x?a=1&b=\"2\"",
            ..call(None, true)
        };
        insta::assert_snapshot!(twiml.forward(&hostile).unwrap());
    }

    #[test]
    fn a_whispered_forward_screens_the_business_and_voicemail_records_the_caller() {
        let twiml = Twiml::new().unwrap();
        let base = crate::twilio::PublicBaseUrl::parse("https://calltrack.example.com").unwrap();
        let flow = crate::domain::CallFlow::from_columns(
            Some("Call from the spring mailer.".into()),
            None,
            true,
            Some("Acme Roofing. Leave a message.".into()),
            None,
        );
        let screen_url = crate::twilio::screening::url(
            &base,
            &crate::domain::E164::parse("+18005550123").unwrap(),
            &crate::domain::CallSid::parse("CA0123456789abcdef0123456789abcdef").unwrap(),
            &flow,
        );
        let dial_action_url = crate::twilio::dial_action::url(&base, &flow.dial_flow());
        let screened = ForwardCall {
            screen_url: screen_url.as_deref(),
            dial_action_url: &dial_action_url,
            ..call(None, true)
        };
        insta::assert_snapshot!("forward_screened", twiml.forward(&screened).unwrap());
        insta::assert_snapshot!(
            "screen_keypress",
            twiml
                .screen(
                    "Call from the spring mailer.",
                    Some("https://calltrack.example.com/twilio/screen-accept?parent=CA1")
                )
                .unwrap()
        );
        insta::assert_snapshot!(
            "screen_whisper_only",
            twiml.screen("Call from the spring mailer.", None).unwrap()
        );
        insta::assert_snapshot!("screen_accepted", twiml.screen_accepted().unwrap());
        insta::assert_snapshot!(
            "voicemail",
            twiml
                .voicemail(
                    "Leave a message & we'll call back.",
                    "https://calltrack.example.com/twilio/voicemail-done",
                    "https://calltrack.example.com/twilio/voicemail"
                )
                .unwrap()
        );
        insta::assert_snapshot!("closed", twiml.closed("We are closed.").unwrap());
        insta::assert_snapshot!("hangup", twiml.hangup().unwrap());
    }

    #[test]
    fn connection_overrides_in_callback_urls_are_escaped() {
        let twiml = Twiml::new().unwrap();
        let base = crate::twilio::PublicBaseUrl::parse("https://calltrack.example.com#rc=2&rp=all")
            .unwrap();
        let (dial, status, recording) = (
            base.join("/twilio/dial-complete"),
            base.join("/twilio/status"),
            base.join("/twilio/recording"),
        );
        let answer = twiml
            .forward(&ForwardCall {
                dial_action_url: &dial,
                status_callback_url: &status,
                recording_callback_url: &recording,
                ..call(None, true)
            })
            .unwrap();
        assert!(!answer.contains("&rp"), "a raw & in an attribute: {answer}");
        assert_eq!(answer.matches("#rc=2&amp;rp=all\"").count(), 3, "{answer}");
        insta::assert_snapshot!(answer);
    }

    #[test]
    fn fixed_answers() {
        let twiml = Twiml::new().unwrap();
        insta::assert_snapshot!("reject", twiml.reject().unwrap());
        insta::assert_snapshot!("number_inactive", twiml.number_inactive().unwrap());
        insta::assert_snapshot!("dial_complete", twiml.dial_complete().unwrap());
        insta::assert_snapshot!("unavailable", twiml.unavailable().unwrap());
    }
}
