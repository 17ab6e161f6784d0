//! Twilio's error codes that calltrack acts on, in one table: what each means and what is done
//! about it. The table of Twilio's error codes in docs/TWILIO.md lists the same rows (a test checks).
//!
//! Twilio sends a code in two places: in the error document of a refused REST request (the
//! Messages or IncomingPhoneNumbers API), and as `ErrorCode` of a message's later `failed` or
//! `undelivered` status. A code missing here falls back on the HTTP status
//! ([`crate::twilio::client::TwilioError::kind`]) or, in a status report, counts as permanent.

/// What a Twilio error code means for the request or message it came with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorClass {
    /// Twilio or a carrier is busy or hiccuped: the same request may succeed later, so it is
    /// retried with back-off.
    Transient,
    /// This message (or this recipient) can never succeed as it is: failed at once, Twilio's
    /// code and message kept.
    Permanent,
    /// A number purchase the manager can fix by choosing another number or area code: the API
    /// answers `422` with Twilio's code and message.
    UserFixable,
}

/// One row of the table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KnownError {
    pub code: i32,
    pub class: ErrorClass,
    /// A few words for logs and the docs; the stored message is Twilio's own when it sent one.
    pub meaning: &'static str,
}

const fn row(code: i32, class: ErrorClass, meaning: &'static str) -> KnownError {
    KnownError {
        code,
        class,
        meaning,
    }
}

use ErrorClass::{Permanent, Transient, UserFixable};

/// Every code calltrack treats specially, in code order.
pub const KNOWN_ERRORS: &[KnownError] = &[
    // 20003 is this service's credentials, not the message's fault: retried like HTTP 401, so
    // fixing the auth token still delivers the reward.
    row(20003, Transient, "authentication failed"),
    row(20429, Transient, "too many requests"),
    row(21211, Permanent, "invalid 'To' phone number"),
    row(
        21408,
        Permanent,
        "sending to the 'To' number's region is not enabled",
    ),
    row(21421, UserFixable, "the phone number is invalid"),
    row(21422, UserFixable, "the phone number is not available"),
    row(21451, UserFixable, "invalid area code"),
    row(
        21452,
        UserFixable,
        "no phone numbers found in the area code",
    ),
    row(
        21606,
        Permanent,
        "'From' is not a message-capable Twilio number",
    ),
    row(
        21608,
        Permanent,
        "trial account: 'To' is not a verified number",
    ),
    row(
        21610,
        Permanent,
        "the recipient unsubscribed (replied STOP)",
    ),
    // Twilio refuses a message outright when the sender's queue holds more than its limit; the
    // queue drains at the sender's rate, so a later attempt is accepted.
    row(21611, Transient, "the sender's queue of messages is full"),
    row(21612, Permanent, "Twilio cannot route from 'From' to 'To'"),
    row(21614, Permanent, "'To' is not a mobile number"),
    row(21617, Permanent, "the message body exceeds 1600 characters"),
    row(
        21659,
        Permanent,
        "'From' is not a Twilio number of this account",
    ),
    // A Messaging Service reports its pool's queue overflow after creation, as 30001.
    row(30001, Transient, "queue overflow"),
    // Suspension lasts until someone acts on the account; retrying within minutes cannot help.
    row(30002, Permanent, "the account was suspended"),
    row(30003, Permanent, "unreachable destination handset"),
    row(30004, Permanent, "message blocked"),
    row(30005, Permanent, "unknown destination handset"),
    row(30006, Permanent, "landline or unreachable carrier"),
    row(30007, Permanent, "filtered by the carrier"),
    // Twilio's advice for an unknown carrier error is to send the message again.
    row(30008, Transient, "unknown error"),
    row(30500, Transient, "Twilio internal error"),
];

/// The table's row for `code`, if calltrack treats it specially.
pub fn known(code: i32) -> Option<&'static KnownError> {
    KNOWN_ERRORS.iter().find(|known| known.code == code)
}

/// Whether a message that ended `failed` or `undelivered` with `code` should be sent again:
/// only for a code the table calls transient.
pub fn is_transient_delivery_failure(code: Option<i32>) -> bool {
    code.and_then(known)
        .is_some_and(|known| known.class == ErrorClass::Transient)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_is_in_code_order_without_repeats() {
        for pair in KNOWN_ERRORS.windows(2) {
            assert!(pair[0].code < pair[1].code, "{:?}", pair[1]);
        }
    }

    #[test]
    fn queue_overflow_and_unknown_carrier_errors_are_sent_again_and_unreachable_handsets_are_not() {
        assert!(is_transient_delivery_failure(Some(30001)));
        assert!(is_transient_delivery_failure(Some(30008)));
        for code in [30002, 30003, 30004, 30005, 30006, 30007, 12345] {
            assert!(!is_transient_delivery_failure(Some(code)), "{code}");
        }
        assert!(!is_transient_delivery_failure(None));
    }

    /// docs/TWILIO.md's rows `| 21611 | meaning | what calltrack does |`, as (code, class word).
    fn documented_rows() -> Vec<(i32, String)> {
        include_str!("../../docs/TWILIO.md")
            .lines()
            .skip_while(|line| !line.starts_with("## Twilio's error codes"))
            .skip(1)
            .take_while(|line| !line.starts_with("## "))
            .filter_map(|line| {
                let cells: Vec<&str> = line.split('|').map(str::trim).collect();
                // A row of the error table: | code | meaning | class: what is done |
                let code = cells.get(1)?.parse::<i32>().ok()?;
                let class = cells.get(3)?.split(':').next()?.trim().to_owned();
                Some((code, class))
            })
            .collect()
    }

    #[test]
    fn the_docs_list_the_same_codes_with_the_same_classes() {
        let word = |class: ErrorClass| match class {
            ErrorClass::Transient => "retried",
            ErrorClass::Permanent => "failed",
            ErrorClass::UserFixable => "422",
        };
        let in_code: Vec<(i32, String)> = KNOWN_ERRORS
            .iter()
            .map(|k| (k.code, word(k.class).to_owned()))
            .collect();
        assert_eq!(documented_rows(), in_code);
    }
}
