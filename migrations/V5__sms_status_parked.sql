-- A message status callback can overtake the worker: Twilio may report a message delivered
-- before the worker has stored the SID Twilio gave it. Such final reports wait here and are
-- applied when the SID is stored; reports for SIDs that never turn up expire after a day.
CREATE TABLE sms_status_parked (
    message_sid text PRIMARY KEY,
    kind        text NOT NULL CHECK (kind IN ('delivered', 'failed', 'undelivered')),
    error_code  integer,
    received_at timestamptz NOT NULL DEFAULT now()
);
