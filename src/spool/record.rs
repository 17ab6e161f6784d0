//! What the journal holds: one webhook the database could not take.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// What kind of webhook a record holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RecordKind {
    Voice,
    VoiceFallback,
    Status,
    Dial,
    Recording,
    SmsStatus,
    /// A key press accepting a screened call.
    ScreenAccept,
    /// The recording callback of a voicemail.
    Voicemail,
}

impl RecordKind {
    /// The webhook a record kind came from, as a metrics label.
    pub fn label(self) -> &'static str {
        match self {
            Self::Voice => "voice",
            Self::VoiceFallback => "voice_fallback",
            Self::Status => "status",
            Self::Dial => "dial",
            Self::Recording => "recording",
            Self::SmsStatus => "sms_status",
            Self::ScreenAccept => "screen_accept",
            Self::Voicemail => "voicemail",
        }
    }
}

/// One webhook the database could not take: its verified form fields in their order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Record {
    /// Drawn at append; the replay's exactly-once key.
    pub id: Uuid,
    /// When the webhook reached the service.
    pub received_at: DateTime<Utc>,
    pub kind: RecordKind,
    /// The form fields exactly as verified, in their order. They hold phone numbers: never log them.
    pub fields: Vec<(String, String)>,
}

impl Record {
    /// A record with a fresh random id.
    pub fn new(
        kind: RecordKind,
        fields: Vec<(String, String)>,
        received_at: DateTime<Utc>,
    ) -> Self {
        Self {
            id: Uuid::new_v4(),
            received_at,
            kind,
            fields,
        }
    }
}
