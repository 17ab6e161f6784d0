-- Runs of the reconciliation against Twilio's call log (`calltrack reconcile`, and the one
-- `serve` makes on start). A start-up run covers the time since the last finished start-up
-- run's window ended, so each run's window and outcome are kept.
CREATE TABLE reconcile_runs (
    id                 BIGSERIAL PRIMARY KEY,
    -- 'serve': the start-up run; 'cli': `calltrack reconcile --since`.
    kind               TEXT NOT NULL CHECK (kind IN ('serve', 'cli')),
    window_start       TIMESTAMPTZ NOT NULL,
    window_end         TIMESTAMPTZ NOT NULL CHECK (window_end >= window_start),
    started_at         TIMESTAMPTZ NOT NULL DEFAULT now(),
    -- NULL while running, and for a run that failed or was cut off.
    finished_at        TIMESTAMPTZ,
    error              TEXT,
    calls_seen         INTEGER,
    sessions_created   INTEGER,
    statuses_completed INTEGER,
    children_applied   INTEGER
);

-- The start-up run's one question: where did the last finished run of its kind end?
CREATE INDEX reconcile_runs_finished_window_end_idx
    ON reconcile_runs (kind, window_end DESC) WHERE finished_at IS NOT NULL;
