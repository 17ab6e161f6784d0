//! Reward SMS bodies: a reward config's `sms_template` with its placeholders filled in.

use std::fmt;

use secrecy::{ExposeSecret as _, SecretString};

/// Used when a reward config has no template of its own.
pub const DEFAULT_TEMPLATE: &str = "Hi {first_name}, thanks for your call! Your {brand} gift card worth ${value}: code {card_code} PIN {pin_code}";

/// The default for cards that have no PIN, so the SMS does not end in an empty "PIN".
pub const DEFAULT_TEMPLATE_WITHOUT_PIN: &str = "Hi {first_name}, thanks for your call! Your {brand} gift card worth ${value}: code {card_code}";

/// A reward SMS template with the placeholders `{first_name}`, `{brand}`, `{value}`,
/// `{card_code}` and `{pin_code}`. Anything else in braces is left exactly as written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SmsTemplate(Option<String>);

/// What a reward SMS says. The card's secrets stay secret until rendered.
#[derive(Debug)]
pub struct RewardDetails {
    pub first_name: Option<String>,
    pub brand: Option<String>,
    /// The card's value as the database prints a `numeric`, e.g. `25.00`.
    pub value: Option<String>,
    pub card_code: SecretString,
    pub pin_code: Option<SecretString>,
}

/// A rendered SMS body. It holds a gift-card code, so it is a secret: its `Debug` is
/// redacted and it has no `Display`.
pub struct SmsBody(SecretString);

impl SmsBody {
    /// The text to send; only the Twilio client and reconciliation should look.
    pub fn expose(&self) -> &str {
        self.0.expose_secret()
    }
}

impl fmt::Debug for SmsBody {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SmsBody([REDACTED])")
    }
}

impl SmsTemplate {
    /// The config's template; `None` or a blank one means the default.
    pub fn new(template: Option<&str>) -> Self {
        Self(template.filter(|t| !t.trim().is_empty()).map(str::to_owned))
    }

    /// Fills the placeholders in one pass, so a value that itself looks like a placeholder
    /// (a first name of `{card_code}`) is never expanded.
    pub fn render(&self, details: &RewardDetails) -> SmsBody {
        let pin = details
            .pin_code
            .as_ref()
            .map(|p| p.expose_secret())
            .filter(|p| !p.is_empty());
        let template = match (&self.0, pin) {
            (Some(own), _) => own.as_str(),
            (None, Some(_)) => DEFAULT_TEMPLATE,
            (None, None) => DEFAULT_TEMPLATE_WITHOUT_PIN,
        };
        let first_name = details
            .first_name
            .as_deref()
            .map(str::trim)
            .filter(|n| !n.is_empty())
            .unwrap_or("there");
        let value = details
            .value
            .as_deref()
            .map(format_value)
            .unwrap_or_default();
        let mut out = String::with_capacity(template.len() + 64);
        let mut rest = template;
        while let Some(open) = rest.find('{') {
            out.push_str(&rest[..open]);
            let after = &rest[open..];
            let Some(close) = after.find('}') else {
                out.push_str(after);
                rest = "";
                break;
            };
            let filled = match &after[1..close] {
                "first_name" => Some(first_name),
                "brand" => Some(details.brand.as_deref().unwrap_or_default()),
                "value" => Some(value.as_str()),
                "card_code" => Some(details.card_code.expose_secret()),
                "pin_code" => Some(pin.unwrap_or_default()),
                _ => None,
            };
            match filled {
                Some(text) => {
                    out.push_str(text);
                    rest = &after[close + 1..];
                }
                None => {
                    // Unknown: keep the brace and scan on from the next character, so a
                    // placeholder right after a stray `{` is still found.
                    out.push('{');
                    rest = &after[1..];
                }
            }
        }
        out.push_str(rest);
        SmsBody(SecretString::from(out))
    }
}

/// The placeholders a reward SMS template may use.
pub const PLACEHOLDERS: [&str; 5] = ["first_name", "brand", "value", "card_code", "pin_code"];

/// Why a template cannot be stored.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TemplateError {
    #[error(
        "has an unknown placeholder {{{0}}}; the known ones are {{first_name}}, {{brand}}, {{value}}, {{card_code}} and {{pin_code}}"
    )]
    UnknownPlaceholder(String),
    #[error("must contain {{card_code}}: a reward SMS without the card's code gives nothing")]
    NoCardCode,
}

/// Checks a template a manager writes: every `{word}` must be a known placeholder (the
/// renderer would leave an unknown one in the SMS as written), and `{card_code}` must be
/// there. Braces around anything but a word are left alone, as the renderer leaves them.
pub fn check(template: &str) -> Result<(), TemplateError> {
    let mut has_code = false;
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        rest = &rest[open + 1..];
        let word_end = rest
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(rest.len());
        if word_end == 0 || !rest[word_end..].starts_with('}') {
            continue;
        }
        let word = &rest[..word_end];
        if !PLACEHOLDERS.contains(&word) {
            let shown: String = word.chars().take(40).collect();
            return Err(TemplateError::UnknownPlaceholder(shown));
        }
        has_code |= word == "card_code";
    }
    if has_code {
        Ok(())
    } else {
        Err(TemplateError::NoCardCode)
    }
}

/// `25.00` reads as `25`; `25.50` stays as it is.
fn format_value(raw: &str) -> String {
    let raw = raw.trim();
    match raw.split_once('.') {
        Some((whole, fraction)) if fraction.bytes().all(|b| b == b'0') => whole.to_owned(),
        _ => raw.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn details(pin: Option<&str>) -> RewardDetails {
        RewardDetails {
            first_name: Some("Dana".into()),
            brand: Some("Amazon".into()),
            value: Some("25.00".into()),
            card_code: SecretString::from("GC-1234-5678"),
            pin_code: pin.map(SecretString::from),
        }
    }

    #[test]
    fn a_template_is_checked_as_the_renderer_reads_it() {
        assert_eq!(check("{first_name}: {card_code} {pin_code}"), Ok(()));
        assert_eq!(check("{{card_code}} { x } {"), Ok(()));
        assert_eq!(
            check("{card_code} {last_name}"),
            Err(TemplateError::UnknownPlaceholder("last_name".into()))
        );
        assert_eq!(check("Hi {first_name}"), Err(TemplateError::NoCardCode));
    }

    #[test]
    fn fills_every_placeholder() {
        let template = SmsTemplate::new(Some(
            "{first_name}: {brand} ${value} {card_code} / {pin_code}",
        ));
        let body = template.render(&details(Some("9876")));
        assert_eq!(body.expose(), "Dana: Amazon $25 GC-1234-5678 / 9876");
    }

    #[test]
    fn unknown_placeholders_and_stray_braces_are_left_alone() {
        let template = SmsTemplate::new(Some("{last_name} {{card_code}} {value"));
        let body = template.render(&details(None));
        assert_eq!(body.expose(), "{last_name} {GC-1234-5678} {value");
    }

    #[test]
    fn values_in_details_are_never_expanded_again() {
        let mut d = details(None);
        d.first_name = Some("{card_code}".into());
        let body = SmsTemplate::new(Some("Hi {first_name}")).render(&d);
        assert_eq!(body.expose(), "Hi {card_code}");
    }

    #[test]
    fn a_missing_or_blank_template_uses_the_default() {
        for template in [None, Some(""), Some("   ")] {
            let body = SmsTemplate::new(template).render(&details(Some("9876")));
            assert_eq!(
                body.expose(),
                "Hi Dana, thanks for your call! Your Amazon gift card worth $25: code GC-1234-5678 PIN 9876"
            );
        }
    }

    #[test]
    fn the_default_leaves_out_an_absent_pin() {
        for pin in [None, Some("")] {
            let body = SmsTemplate::new(None).render(&details(pin));
            assert!(body.expose().ends_with("code GC-1234-5678"), "{pin:?}");
        }
    }

    #[test]
    fn a_missing_first_name_greets_anyway_and_cents_are_kept() {
        let mut d = details(None);
        d.first_name = None;
        d.value = Some("12.50".into());
        let body = SmsTemplate::new(Some("Hi {first_name}, ${value}")).render(&d);
        assert_eq!(body.expose(), "Hi there, $12.50");
    }

    #[test]
    fn debug_output_never_shows_the_code() {
        let d = details(Some("9876"));
        let body = SmsTemplate::new(None).render(&d);
        for shown in [format!("{body:?}"), format!("{d:?}")] {
            assert!(!shown.contains("GC-1234"), "{shown}");
            assert!(!shown.contains("9876"), "{shown}");
        }
    }
}
