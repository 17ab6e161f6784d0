//! Seeding for the benchmark: whole populations written in a few statements.

/// Creates `name` unless it exists. `name` must be a plain identifier (checked by callers).
pub async fn ensure_database(admin: &tokio_postgres::Client, name: &str) -> anyhow::Result<()> {
    let exists = admin
        .query_opt("SELECT 1 FROM pg_database WHERE datname = $1", &[&name])
        .await?
        .is_some();
    if !exists {
        admin
            .batch_execute(&format!("CREATE DATABASE {name}"))
            .await?;
    }
    Ok(())
}

/// How many tracked numbers and recipients the database holds.
pub async fn population(client: &tokio_postgres::Client) -> anyhow::Result<(i64, i64)> {
    let row = client
        .query_one("SELECT (SELECT count(*) FROM tracked_phone_numbers), (SELECT count(*) FROM recipients)", &[])
        .await?;
    Ok((row.get(0), row.get(1)))
}

/// Empties sessions and events so every benchmark run starts alike.
pub async fn reset_sessions(client: &tokio_postgres::Client) -> anyhow::Result<()> {
    client
        .batch_execute("TRUNCATE call_sessions, events CASCADE")
        .await?;
    client.batch_execute("VACUUM ANALYZE call_sessions").await?;
    Ok(())
}

/// `numbers` campaigns with one tracked number (`+1800` and the campaign's number) each and
/// `per_campaign` recipients whose phones (212 and a running number) are typed three ways.
pub async fn bench_population(
    client: &tokio_postgres::Client,
    numbers: i64,
    per_campaign: i64,
    forward_to: &str,
) -> anyhow::Result<()> {
    client
        .batch_execute(
            "TRUNCATE call_sessions, events, recipients, tracked_phone_numbers, campaigns, clients, organizations CASCADE;
             INSERT INTO organizations (id, name, type)
                 VALUES ('00000000-0000-0000-0000-0000000000b1', 'Bench agency', 'agency');
             INSERT INTO clients (id, org_id, name, industry)
                 VALUES ('00000000-0000-0000-0000-0000000000b2', '00000000-0000-0000-0000-0000000000b1', 'Bench roofing', 'roofing');",
        )
        .await?;
    client
        .execute(
            "INSERT INTO campaigns (client_id, name, status)
             SELECT '00000000-0000-0000-0000-0000000000b2', 'bench-' || g, 'mailed' FROM generate_series(1, $1::bigint) g",
            &[&numbers],
        )
        .await?;
    client
        .execute(
            "INSERT INTO tracked_phone_numbers (campaign_id, phone_number, forward_to_number, provider_sid)
             SELECT id, '+1800' || lpad(substr(name, 7), 7, '0'), $1, 'PNbench' || substr(name, 7) FROM campaigns",
            &[&forward_to],
        )
        .await?;
    // Phones are typed three different ways, as other systems store them.
    client
        .execute(
            "INSERT INTO recipients (campaign_id, redemption_code, first_name, phone)
             SELECT c.id, 'BENCH' || k, 'Bench',
                    CASE k % 3
                        WHEN 0 THEN format('(%s) %s-%s', substr(d, 1, 3), substr(d, 4, 3), substr(d, 7))
                        WHEN 1 THEN format('%s.%s.%s', substr(d, 1, 3), substr(d, 4, 3), substr(d, 7))
                        ELSE format('+1 %s %s %s', substr(d, 1, 3), substr(d, 4, 3), substr(d, 7))
                    END
             FROM generate_series(1, $1::bigint * $2::bigint) k
             CROSS JOIN LATERAL (SELECT (2120000000 + k)::text AS d) digits
             JOIN campaigns c ON c.name = 'bench-' || ((k - 1) / $2::bigint + 1)",
            &[&numbers, &per_campaign],
        )
        .await?;
    client.batch_execute("ANALYZE").await?;
    Ok(())
}
