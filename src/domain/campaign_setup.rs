//! What a manager may write when setting up a campaign without SQL: campaign names and
//! statuses, a condition's trigger and rule, a reward's texts. Checked here, before any
//! transaction, so every refusal is a sentence about the request.

use super::TriggerType;
use super::sms_template::{self, TemplateError};

/// The campaign statuses the platform knows (`campaigns.status`, text or an enum).
pub const CAMPAIGN_STATUSES: [&str; 6] = [
    "draft",
    "ready",
    "in_production",
    "mailed",
    "active",
    "completed",
];

/// The highest condition number; agents mark conditions by number from a short list.
pub const MAX_CONDITION_NUMBER: i32 = 20;

/// The longest campaign or condition name.
pub const MAX_NAME_CHARS: usize = 200;

/// The longest reward description.
pub const MAX_DESCRIPTION_CHARS: usize = 500;

/// The longest SMS template: ten SMS segments, what Twilio sends as one message at most.
pub const MAX_TEMPLATE_CHARS: usize = 1600;

/// The longest time delay, ten years: a longer one is a typo.
pub const MAX_DELAY_HOURS: i32 = 87_600;

/// The longest talk time a call rule may ask for, a day.
pub const MAX_TALK_SECONDS: i32 = 86_400;

/// The range of `recording_retention_days` (the column's CHECK).
pub const RETENTION_DAYS: std::ops::RangeInclusive<i32> = 1..=36_500;

/// Why a setup request cannot be written; each reads as a sentence to the caller.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SetupError {
    #[error("{field} must not be blank")]
    Blank { field: &'static str },
    #[error("{field} must be at most {max} characters")]
    TooLong { field: &'static str, max: usize },
    #[error("status must be one of draft, ready, in_production, mailed, active, completed")]
    UnknownStatus,
    #[error("recording_retention_days must be between 1 and 36500 (or null to keep recordings)")]
    Retention,
    #[error("the condition number must be between 1 and {MAX_CONDITION_NUMBER}")]
    ConditionNumber,
    #[error("trigger_type must be one of call, crm_event, time_delay")]
    UnknownTrigger,
    #[error("a crm_event condition needs crm_event_name, the CRM event that meets it")]
    NoEventName,
    #[error("crm_event_name applies only to a crm_event condition")]
    StrayEventName,
    #[error(
        "a time_delay condition needs time_delay_hours, a whole number of hours between 1 and {MAX_DELAY_HOURS}"
    )]
    NoDelay,
    #[error("time_delay_hours applies only to a time_delay condition")]
    StrayDelay,
    #[error(
        "auto_min_talk_seconds applies only to a call condition, and must be between 0 and {MAX_TALK_SECONDS}"
    )]
    TalkSeconds,
    #[error("sms_template {0}")]
    Template(#[from] TemplateError),
}

/// A campaign status the platform knows, as written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CampaignStatus(&'static str);

impl CampaignStatus {
    pub const DRAFT: Self = Self("draft");

    pub fn parse(raw: &str) -> Result<Self, SetupError> {
        CAMPAIGN_STATUSES
            .iter()
            .find(|s| **s == raw)
            .copied()
            .map(Self)
            .ok_or(SetupError::UnknownStatus)
    }

    pub fn as_str(self) -> &'static str {
        self.0
    }
}

/// A name: trimmed, not blank, at most [`MAX_NAME_CHARS`].
pub fn name(field: &'static str, raw: &str) -> Result<String, SetupError> {
    bounded(field, raw, MAX_NAME_CHARS)?.ok_or(SetupError::Blank { field })
}

/// Optional text: trimmed; blank is `None`; at most `max` characters.
pub fn bounded(field: &'static str, raw: &str, max: usize) -> Result<Option<String>, SetupError> {
    let trimmed = raw.trim();
    if trimmed.chars().count() > max {
        return Err(SetupError::TooLong { field, max });
    }
    Ok((!trimmed.is_empty()).then(|| trimmed.to_owned()))
}

/// `recording_retention_days`: within [`RETENTION_DAYS`].
pub fn retention_days(days: i32) -> Result<i32, SetupError> {
    if RETENTION_DAYS.contains(&days) {
        Ok(days)
    } else {
        Err(SetupError::Retention)
    }
}

/// A condition number within 1..=[`MAX_CONDITION_NUMBER`].
pub fn condition_number(number: i32) -> Result<i32, SetupError> {
    if (1..=MAX_CONDITION_NUMBER).contains(&number) {
        Ok(number)
    } else {
        Err(SetupError::ConditionNumber)
    }
}

/// What meets a condition: its trigger, and the one setting that trigger takes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConditionRule {
    pub trigger: TriggerType,
    pub crm_event_name: Option<String>,
    pub time_delay_hours: Option<i32>,
    pub auto_min_talk_seconds: Option<i32>,
}

impl ConditionRule {
    /// A trigger with only the settings it uses: a `crm_event` needs its event's name, a
    /// `time_delay` its hours (more than zero), and only a `call` may meet itself after
    /// `auto_min_talk_seconds` of talk. A setting another trigger uses is refused rather than
    /// stored unused, so what a manager reads back is what runs.
    pub fn parse(
        trigger: &str,
        crm_event_name: Option<&str>,
        time_delay_hours: Option<i32>,
        auto_min_talk_seconds: Option<i32>,
    ) -> Result<Self, SetupError> {
        let trigger = TriggerType::parse(trigger).map_err(|_| SetupError::UnknownTrigger)?;
        let event = crm_event_name
            .map(|raw| bounded("crm_event_name", raw, MAX_NAME_CHARS))
            .transpose()?
            .flatten();
        match trigger {
            TriggerType::CrmEvent if event.is_none() => return Err(SetupError::NoEventName),
            TriggerType::Call | TriggerType::TimeDelay if crm_event_name.is_some() => {
                return Err(SetupError::StrayEventName);
            }
            _ => {}
        }
        match (trigger, time_delay_hours) {
            (TriggerType::TimeDelay, Some(hours)) if (1..=MAX_DELAY_HOURS).contains(&hours) => {}
            (TriggerType::TimeDelay, _) => return Err(SetupError::NoDelay),
            (_, Some(_)) => return Err(SetupError::StrayDelay),
            (_, None) => {}
        }
        match (trigger, auto_min_talk_seconds) {
            (_, None) => {}
            (TriggerType::Call, Some(seconds)) if (0..=MAX_TALK_SECONDS).contains(&seconds) => {}
            (_, Some(_)) => return Err(SetupError::TalkSeconds),
        }
        Ok(Self {
            trigger,
            crm_event_name: event,
            time_delay_hours,
            auto_min_talk_seconds,
        })
    }
}

/// A reward SMS template as stored: `None` for none or a blank one (the default is used),
/// else one whose placeholders are all known and which carries `{card_code}`.
pub fn reward_template(raw: Option<&str>) -> Result<Option<String>, SetupError> {
    let Some(template) = raw
        .map(|raw| bounded("sms_template", raw, MAX_TEMPLATE_CHARS))
        .transpose()?
        .flatten()
    else {
        return Ok(None);
    };
    sms_template::check(&template)?;
    Ok(Some(template))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_trigger_takes_its_own_setting_and_refuses_the_others() {
        let call = ConditionRule::parse("call", None, None, Some(90)).unwrap();
        assert_eq!(call.auto_min_talk_seconds, Some(90));
        let event = ConditionRule::parse("crm_event", Some("  kept "), None, None).unwrap();
        assert_eq!(event.crm_event_name.as_deref(), Some("kept"));
        assert!(ConditionRule::parse("time_delay", None, Some(48), None).is_ok());
        let refused = [
            ("crm_event", None, None, None, SetupError::NoEventName),
            ("crm_event", Some("  "), None, None, SetupError::NoEventName),
            ("time_delay", None, None, None, SetupError::NoDelay),
            ("time_delay", None, Some(0), None, SetupError::NoDelay),
            ("call", Some("x"), None, None, SetupError::StrayEventName),
            ("call", None, Some(3), None, SetupError::StrayDelay),
            (
                "crm_event",
                Some("x"),
                None,
                Some(5),
                SetupError::TalkSeconds,
            ),
            ("call", None, None, Some(-1), SetupError::TalkSeconds),
            ("phone", None, None, None, SetupError::UnknownTrigger),
        ];
        for (trigger, event, hours, talk, expected) in refused {
            assert_eq!(
                ConditionRule::parse(trigger, event, hours, talk),
                Err(expected.clone()),
                "{trigger} {event:?} {hours:?} {talk:?}"
            );
        }
    }

    #[test]
    fn names_are_trimmed_and_bounded() {
        assert_eq!(name("name", "  Spring  ").unwrap(), "Spring");
        assert!(name("name", " ").is_err());
        assert!(name("name", &"é".repeat(200)).is_ok());
        assert!(name("name", &"é".repeat(201)).is_err());
    }

    #[test]
    fn a_template_must_carry_the_card_and_know_its_placeholders() {
        assert_eq!(reward_template(Some("  ")), Ok(None));
        assert!(reward_template(Some("Code {card_code} PIN {pin_code}")).is_ok());
        assert!(reward_template(Some("Hi {first_name}")).is_err());
        assert!(reward_template(Some("{card_code} {last_name}")).is_err());
    }

    #[test]
    fn statuses_are_the_platforms() {
        for status in CAMPAIGN_STATUSES {
            assert_eq!(CampaignStatus::parse(status).unwrap().as_str(), status);
        }
        assert!(CampaignStatus::parse("Draft").is_err());
    }
}
