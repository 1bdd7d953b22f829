//! `ferry-bench dynamo`: latency of the DynamoDB calls Ferry's state store makes, against one or
//! more local DynamoDB endpoints (moto, minidyn), one call at a time. Needs no Kafka.
//!
//! Per endpoint and table size (default 500 and 3,000 items, laid out like Ferry's table:
//! a `PROGRESS` item per partition and `SEG#` items under them) it times:
//!
//! | row | call | as in |
//! |---|---|---|
//! | `UpdateItem (conditional)` | `SET next_source, next_target, updated_at` if both match | a one-partition commit without segments |
//! | `TransactWriteItems (6 items)` | 3 conditional progress updates + 3 segment puts | a three-partition commit |
//! | `BatchGetItem (25 keys)` | 25 `PROGRESS` keys, strongly consistent | `load_progress` |
//! | `Query (Limit 1)` | `SK BETWEEN` backwards, `Limit 1`, strongly consistent | `segments_around` |
//!
//! Every table is named `fbdyn<run>-<items>` and deleted at the end, also after a failure.

use anyhow::{bail, Context};
use aws_sdk_dynamodb::config::{Credentials, Region};
use aws_sdk_dynamodb::types::{AttributeValue, KeysAndAttributes, Put, TransactWriteItem, Update};
use aws_sdk_dynamodb::types::{PutRequest, WriteRequest};
use aws_sdk_dynamodb::Client;
use ferry_aws::dynamo::{
    ensure_table, partition_key, segment_sort_key, ClientTimeouts, PROGRESS_SK,
};
use ferry_core::TopicPartition;
use std::collections::HashMap;
use std::fmt::Write as _;
use std::time::{Duration, Instant};

/// Arguments of `ferry-bench dynamo`.
#[derive(Debug, clap::Args)]
pub struct DynamoArgs {
    /// `name=url` of an endpoint to measure (repeatable), e.g. `moto=http://127.0.0.1:4566`.
    #[arg(long = "endpoint", required = true, value_parser = parse_endpoint)]
    endpoints: Vec<(String, String)>,
    /// Timed calls per operation, endpoint and table size.
    #[arg(long, default_value_t = 200)]
    iterations: usize,
    /// Untimed calls before the timed ones.
    #[arg(long, default_value_t = 10)]
    warmup: usize,
    /// Table sizes (items), comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "500,3000")]
    items: Vec<usize>,
}

fn parse_endpoint(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((name, url)) if !name.is_empty() && url.starts_with("http") => {
            Ok((name.to_owned(), url.to_owned()))
        }
        _ => Err(format!("expected name=http://host:port, got {s:?}")),
    }
}

/// Partitions with a `PROGRESS` item (the 25 keys of the `BatchGetItem`).
const PARTITIONS: i32 = 25;
const OPERATIONS: [&str; 4] = [
    "UpdateItem (conditional)",
    "TransactWriteItems (6 items)",
    "BatchGetItem (25 keys)",
    "Query (Limit 1)",
];

/// One measured row: p50 and p99 per endpoint.
#[derive(Debug)]
struct Row {
    operation: &'static str,
    items: usize,
    by_endpoint: Vec<(Duration, Duration)>,
}

pub async fn run(args: DynamoArgs) -> anyhow::Result<()> {
    let run_id = format!(
        "fbdyn{}",
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)?
            .as_millis()
            % 10_000_000_000
    );
    let mut rows: Vec<Row> = Vec::new();
    for &items in &args.items {
        for operation in OPERATIONS {
            rows.push(Row {
                operation,
                items,
                by_endpoint: Vec::new(),
            });
        }
    }
    for (name, url) in &args.endpoints {
        let client = client(url).await;
        for &items in &args.items {
            let table = format!("{run_id}-{items}");
            eprintln!("{name}: table {table} ({items} items) at {url}");
            let setup = ensure_table(&client, &table)
                .await
                .with_context(|| format!("{name}: creating {table}"))?;
            if !setup.created {
                // Never ours to fill or delete.
                bail!("{name}: table {table} existed already");
            }
            let measured = measure(&client, &table, items, &args).await;
            if let Err(e) = client.delete_table().table_name(&table).send().await {
                eprintln!("{name}: could not delete {table}: {e}");
            }
            for (operation, p50, p99) in measured.with_context(|| format!("{name} ({url})"))? {
                if let Some(row) = rows
                    .iter_mut()
                    .find(|r| r.items == items && r.operation == operation)
                {
                    row.by_endpoint.push((p50, p99));
                }
            }
        }
    }
    print!("{}", table(&args, &rows));
    Ok(())
}

async fn client(url: &str) -> Client {
    let loader = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new(
            "testing",
            "testing",
            None,
            None,
            "ferry-bench",
        ))
        .endpoint_url(url);
    let timeouts = ClientTimeouts {
        attempt: Duration::from_secs(60),
        operation: Duration::from_secs(120),
        max_attempts: 1,
        ..ClientTimeouts::default()
    };
    Client::new(&timeouts.apply(loader).load().await)
}

fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}

fn n(v: i64) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

fn pk(partition: i32) -> String {
    partition_key(&TopicPartition::new("bench", partition))
}

/// Fills the table: a `PROGRESS` item (0, 0) for each of the 25 partitions, the rest `SEG#`
/// items spread over them.
async fn fill(client: &Client, table: &str, items: usize) -> anyhow::Result<()> {
    let mut writes = Vec::with_capacity(items);
    for p in 0..PARTITIONS {
        writes.push(HashMap::from([
            ("PK".to_owned(), s(pk(p))),
            ("SK".to_owned(), s(PROGRESS_SK)),
            ("next_source".to_owned(), n(0)),
            ("next_target".to_owned(), n(0)),
        ]));
    }
    for i in 0..items.saturating_sub(PARTITIONS as usize) {
        let offset = 3 * i as i64;
        writes.push(HashMap::from([
            ("PK".to_owned(), s(pk(i as i32 % PARTITIONS))),
            ("SK".to_owned(), s(segment_sort_key(offset))),
            ("source_start".to_owned(), n(offset)),
            ("target_start".to_owned(), n(2 * i as i64)),
        ]));
    }
    for chunk in writes.chunks(25) {
        let mut pending: Vec<WriteRequest> = chunk
            .iter()
            .map(|item| {
                PutRequest::builder()
                    .set_item(Some(item.clone()))
                    .build()
                    .map(|put| WriteRequest::builder().put_request(put).build())
            })
            .collect::<Result<_, _>>()?;
        while !pending.is_empty() {
            let out = client
                .batch_write_item()
                .request_items(table, pending)
                .send()
                .await?;
            pending = out
                .unprocessed_items
                .and_then(|mut u| u.remove(table))
                .unwrap_or_default();
        }
    }
    Ok(())
}

fn progress_update(table: &str, partition: i32, at: i64, next: i64) -> anyhow::Result<Update> {
    Ok(Update::builder()
        .table_name(table)
        .key("PK", s(pk(partition)))
        .key("SK", s(PROGRESS_SK))
        .update_expression("SET next_source = :ns, next_target = :nt, updated_at = :now")
        .condition_expression("next_source = :es AND next_target = :et")
        .expression_attribute_values(":ns", n(next))
        .expression_attribute_values(":nt", n(next))
        .expression_attribute_values(":now", n(next))
        .expression_attribute_values(":es", n(at))
        .expression_attribute_values(":et", n(at))
        .build()?)
}

/// Times `iterations` calls of `call(i)` after `warmup` untimed ones: (p50, p99).
async fn time<F, Fut>(
    warmup: usize,
    iterations: usize,
    mut call: F,
) -> anyhow::Result<(Duration, Duration)>
where
    F: FnMut(usize) -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<()>>,
{
    for i in 0..warmup {
        call(i).await?;
    }
    let mut samples = Vec::with_capacity(iterations);
    for i in warmup..warmup + iterations {
        let started = Instant::now();
        call(i).await?;
        samples.push(started.elapsed());
    }
    samples.sort();
    let at =
        |q: f64| samples[((samples.len() as f64 * q).ceil() as usize).clamp(1, samples.len()) - 1];
    Ok((at(0.50), at(0.99)))
}

async fn measure(
    client: &Client,
    table: &str,
    items: usize,
    args: &DynamoArgs,
) -> anyhow::Result<Vec<(&'static str, Duration, Duration)>> {
    if items < PARTITIONS as usize {
        bail!("tables need at least {PARTITIONS} items");
    }
    fill(client, table, items).await?;
    let (warmup, iterations) = (args.warmup, args.iterations);
    let mut out = Vec::new();

    // Partition 0's progress moves by 1 per call.
    let update = time(warmup, iterations, |i| async move {
        let u = progress_update(table, 0, i as i64, i as i64 + 1)?;
        client
            .update_item()
            .table_name(table)
            .set_key(Some(u.key))
            .update_expression(u.update_expression)
            .set_condition_expression(u.condition_expression)
            .set_expression_attribute_values(u.expression_attribute_values)
            .send()
            .await?;
        Ok(())
    })
    .await?;
    out.push((OPERATIONS[0], update.0, update.1));

    // Partitions 1..=3: progress moves by 2 per call, one new segment each.
    let txn = time(warmup, iterations, |i| async move {
        let at = 2 * i as i64;
        let mut actions = Vec::with_capacity(6);
        for p in 1..=3 {
            actions.push(
                TransactWriteItem::builder()
                    .update(progress_update(table, p, at, at + 2)?)
                    .build(),
            );
            let source = 1_000_000_000 + at;
            actions.push(
                TransactWriteItem::builder()
                    .put(
                        Put::builder()
                            .table_name(table)
                            .item("PK", s(pk(p)))
                            .item("SK", s(segment_sort_key(source)))
                            .item("source_start", n(source))
                            .item("target_start", n(at))
                            .build()?,
                    )
                    .build(),
            );
        }
        client
            .transact_write_items()
            .set_transact_items(Some(actions))
            .send()
            .await?;
        Ok(())
    })
    .await?;
    out.push((OPERATIONS[1], txn.0, txn.1));

    let keys: Vec<_> = (0..PARTITIONS)
        .map(|p| {
            HashMap::from([
                ("PK".to_owned(), s(pk(p))),
                ("SK".to_owned(), s(PROGRESS_SK)),
            ])
        })
        .collect();
    let keys = &keys;
    let batch = time(warmup, iterations, |_| async move {
        let request = KeysAndAttributes::builder()
            .set_keys(Some(keys.clone()))
            .consistent_read(true)
            .build()?;
        let out = client
            .batch_get_item()
            .request_items(table, request)
            .send()
            .await?;
        let found = out
            .responses
            .and_then(|mut r| r.remove(table))
            .map_or(0, |v| v.len());
        if found != PARTITIONS as usize {
            bail!("BatchGetItem found {found} of {PARTITIONS} items");
        }
        Ok(())
    })
    .await?;
    out.push((OPERATIONS[2], batch.0, batch.1));

    // The segment at or before an offset in the middle of partition 4's segments.
    let per_partition = (items - PARTITIONS as usize) / PARTITIONS as usize;
    let probe = 3 * (per_partition as i64 / 2 * PARTITIONS as i64 + 4) + 1;
    let query = time(warmup, iterations, |_| async move {
        let out = client
            .query()
            .table_name(table)
            .key_condition_expression("PK = :pk AND SK BETWEEN :from AND :to")
            .expression_attribute_values(":pk", s(pk(4)))
            .expression_attribute_values(":from", s(segment_sort_key(0)))
            .expression_attribute_values(":to", s(segment_sort_key(probe)))
            .scan_index_forward(false)
            .consistent_read(true)
            .limit(1)
            .send()
            .await?;
        if out.items().len() != 1 {
            bail!("Query Limit 1 returned {} items", out.items().len());
        }
        Ok(())
    })
    .await?;
    out.push((OPERATIONS[3], query.0, query.1));
    Ok(out)
}

fn ms(d: Duration) -> String {
    format!("{:.2}", d.as_secs_f64() * 1000.0)
}

/// The Markdown table: p50 / p99 in ms per endpoint, and the first endpoint's p50 over each
/// other's.
fn table(args: &DynamoArgs, rows: &[Row]) -> String {
    let mut out = String::new();
    let names: Vec<&str> = args.endpoints.iter().map(|(n, _)| n.as_str()).collect();
    let _ = write!(out, "| operation | table items |");
    for name in &names {
        let _ = write!(out, " {name} p50 ms | {name} p99 ms |");
    }
    for name in names.iter().skip(1) {
        let _ = write!(out, " {} / {name} (p50) |", names[0]);
    }
    out.push('\n');
    let columns = 2 + 2 * names.len() + names.len().saturating_sub(1);
    out.push_str(&"|---".repeat(columns));
    out.push_str("|\n");
    for row in rows {
        let _ = write!(out, "| {} | {} |", row.operation, row.items);
        for (p50, p99) in &row.by_endpoint {
            let _ = write!(out, " {} | {} |", ms(*p50), ms(*p99));
        }
        if let Some((first, _)) = row.by_endpoint.first() {
            for (p50, _) in row.by_endpoint.iter().skip(1) {
                let _ = write!(
                    out,
                    " {:.0}× |",
                    first.as_secs_f64() / p50.as_secs_f64().max(1e-9)
                );
            }
        }
        out.push('\n');
    }
    let _ = writeln!(
        out,
        "\n{} timed calls per cell after {} untimed, one at a time, client-side (AWS SDK for Rust).",
        args.iterations, args.warmup
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_are_name_equals_url() {
        assert_eq!(
            parse_endpoint("moto=http://127.0.0.1:4566").unwrap(),
            ("moto".to_owned(), "http://127.0.0.1:4566".to_owned())
        );
        assert!(parse_endpoint("http://127.0.0.1:4566").is_err());
        assert!(parse_endpoint("=http://x").is_err());
    }

    #[test]
    fn table_has_a_column_pair_per_endpoint_and_ratios() {
        let args = DynamoArgs {
            endpoints: vec![
                ("moto".into(), "http://a".into()),
                ("minidyn".into(), "http://b".into()),
            ],
            iterations: 3,
            warmup: 1,
            items: vec![500],
        };
        let ms = Duration::from_millis;
        let rows = [Row {
            operation: OPERATIONS[1],
            items: 500,
            by_endpoint: vec![(ms(90), ms(160)), (ms(1), ms(5))],
        }];
        let out = table(&args, &rows);
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(
            lines[0],
            "| operation | table items | moto p50 ms | moto p99 ms | minidyn p50 ms | minidyn p99 ms | moto / minidyn (p50) |"
        );
        assert_eq!(lines[1], "|---|---|---|---|---|---|---|");
        assert_eq!(
            lines[2],
            "| TransactWriteItems (6 items) | 500 | 90.00 | 160.00 | 1.00 | 5.00 | 90× |"
        );
    }
}
