//! The table's stream, read with the DynamoDB Streams API as Lambda's event source mapping
//! would hand it to the publisher.
//!
//! Locally nothing consumes the stream (no Lambda event source mapping): `entitlements events`
//! reads it with this, and so do the integration tests, so both see the records a deployment
//! would publish from.

use std::collections::{HashMap, HashSet};

use aws_sdk_dynamodbstreams::types::{AttributeValue, OperationType, Record, ShardIteratorType};
use aws_sdk_dynamodbstreams::Client as StreamsClient;
use aws_types::service_config::ServiceConfigKey;
use aws_types::SdkConfig;
use serde_json::{json, Value};

/// Reading the stream failed.
#[derive(Debug, thiserror::Error)]
pub enum StreamError {
    /// The table has no stream (`StreamSpecification` off, or a table created without it).
    #[error("table {0} has no stream: create it as template.yaml declares it")]
    NoStream(String),
    /// A request to DynamoDB or DynamoDB Streams failed.
    #[error("{operation} failed")]
    Request {
        /// The operation.
        operation: &'static str,
        /// What the client reported.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// A stream record lacks what every record has.
    #[error("stream record without its {0}")]
    Incomplete(&'static str),
}

fn request<E: std::error::Error + Send + Sync + 'static>(
    operation: &'static str,
) -> impl FnOnce(E) -> StreamError {
    move |e| StreamError::Request {
        operation,
        source: Box::new(e),
    }
}

/// The DynamoDB Streams endpoint to set when only DynamoDB's is configured: moto and other
/// local servers answer both APIs on one port, so `AWS_ENDPOINT_URL_DYNAMODB` alone is enough.
/// `None` keeps the SDK's choice (`AWS_ENDPOINT_URL_DYNAMODB_STREAMS`, `AWS_ENDPOINT_URL`, the
/// profile, or AWS's regional endpoint).
pub fn streams_endpoint(aws: &SdkConfig) -> Option<String> {
    if aws.get_origin("endpoint_url").is_client_config() {
        return None;
    }
    let config = aws.service_config()?;
    let endpoint = |service_id| {
        let key = ServiceConfigKey::builder()
            .service_id(service_id)
            .env("AWS_ENDPOINT_URL")
            .profile("endpoint_url")
            .build();
        key.ok().and_then(|key| config.load_config(key))
    };
    match endpoint("DynamoDB Streams") {
        Some(_) => None,
        None => endpoint("DynamoDB"),
    }
}

/// A DynamoDB Streams client over `aws`, at DynamoDB's endpoint when only that one is set.
pub fn streams_client(aws: &SdkConfig) -> StreamsClient {
    let mut config = aws_sdk_dynamodbstreams::config::Builder::from(aws);
    if let Some(endpoint) = streams_endpoint(aws) {
        config.set_endpoint_url(Some(endpoint));
    }
    StreamsClient::from_conf(config.build())
}

/// Where reading starts in each shard.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Start {
    /// The oldest record kept (24 hours).
    Oldest,
    /// Only records written from now on.
    Latest,
}

/// One shard being read.
#[derive(Debug)]
struct Shard {
    /// Where the next `GetRecords` reads; `None` once a closed shard is read to its end.
    iterator: Option<String>,
    /// moto's keys-only INSERT that ended the last batch, kept until the one after it is seen.
    held: Option<Record>,
}

/// Every shard of one table's stream, read in order.
#[derive(Debug)]
pub struct StreamReader {
    client: StreamsClient,
    arn: String,
    shards: Vec<Shard>,
    /// Ids of the shards found so far, so a new look adds only new ones.
    seen: HashSet<String>,
}

impl StreamReader {
    /// Opens the stream of `table` (its latest) at `start` in every shard.
    pub async fn open(
        dynamodb: &aws_sdk_dynamodb::Client,
        client: StreamsClient,
        table: &str,
        start: Start,
    ) -> Result<Self, StreamError> {
        let described = dynamodb.describe_table().table_name(table).send().await;
        let described = described.map_err(request("DynamoDB DescribeTable"))?;
        let arn = described.table.and_then(|t| t.latest_stream_arn);
        let arn = arn.ok_or_else(|| StreamError::NoStream(table.to_owned()))?;
        let mut reader = Self {
            client,
            arn,
            shards: Vec::new(),
            seen: HashSet::new(),
        };
        reader.add_new_shards(start).await?;
        Ok(reader)
    }

    /// The stream's ARN.
    pub fn arn(&self) -> &str {
        &self.arn
    }

    /// Adds the shards not seen yet, each read from `start` (listed parents first, so a parent
    /// is read before its children).
    async fn add_new_shards(&mut self, start: Start) -> Result<(), StreamError> {
        let mut after: Option<String> = None;
        loop {
            let described = self
                .client
                .describe_stream()
                .stream_arn(&self.arn)
                .set_exclusive_start_shard_id(after.take())
                .send()
                .await
                .map_err(request("DynamoDB Streams DescribeStream"))?;
            let (ids, next_page) = shard_ids(described.stream_description);
            for id in ids {
                if !self.seen.insert(id.clone()) {
                    continue;
                }
                let kind = match start {
                    Start::Oldest => ShardIteratorType::TrimHorizon,
                    Start::Latest => ShardIteratorType::Latest,
                };
                let iterator = self
                    .client
                    .get_shard_iterator()
                    .stream_arn(&self.arn)
                    .shard_id(id)
                    .shard_iterator_type(kind)
                    .send()
                    .await
                    .map_err(request("DynamoDB Streams GetShardIterator"))?;
                self.shards.push(Shard {
                    iterator: iterator.shard_iterator,
                    held: None,
                });
            }
            match next_page {
                Some(last) => after = Some(last),
                None => return Ok(()),
            }
        }
    }

    /// One `GetRecords` in every shard not read to its end: the records they returned, in
    /// order, without moto's keys-only INSERTs. `false` when no shard returned any.
    pub async fn poll(&mut self) -> Result<(Vec<Record>, bool), StreamError> {
        let (mut all, mut any) = (Vec::new(), false);
        for shard in &mut self.shards {
            let Some(iterator) = shard.iterator.take() else {
                continue;
            };
            let got = self
                .client
                .get_records()
                .shard_iterator(iterator)
                .send()
                .await
                .map_err(request("DynamoDB Streams GetRecords"))?;
            shard.iterator = got.next_shard_iterator;
            let fresh = got.records.unwrap_or_default();
            let got_any = !fresh.is_empty();
            any |= got_any;
            let mut records: Vec<Record> = shard.held.take().into_iter().collect();
            records.extend(fresh);
            let mut kept = without_moto_key_only_inserts(records);
            // A keys-only INSERT ending the batch may have its full INSERT in the next one:
            // held until then; if the next brings nothing, it is a record of its own.
            if got_any && shard.iterator.is_some() && kept.last().is_some_and(keys_only_insert) {
                shard.held = kept.pop();
            }
            all.extend(kept);
        }
        Ok((all, any))
    }

    /// Looks for shards created since the stream was opened (read from their start).
    pub async fn refresh(&mut self) -> Result<(), StreamError> {
        self.add_new_shards(Start::Oldest).await
    }
}

/// The shard ids a `DescribeStream` page lists, and where the next page starts.
fn shard_ids(
    description: Option<aws_sdk_dynamodbstreams::types::StreamDescription>,
) -> (Vec<String>, Option<String>) {
    let Some(d) = description else {
        return (Vec::new(), None);
    };
    let ids = d.shards.unwrap_or_default().into_iter();
    (
        ids.filter_map(|s| s.shard_id).collect(),
        d.last_evaluated_shard_id,
    )
}

fn keys_only_insert(r: &Record) -> bool {
    let change = r.dynamodb.as_ref();
    r.event_name == Some(OperationType::Insert)
        && change.is_some_and(|c| c.new_image.is_some() && c.new_image == c.keys)
}

fn keys_of(r: &Record) -> Option<&HashMap<String, AttributeValue>> {
    r.dynamodb.as_ref().and_then(|c| c.keys.as_ref())
}

/// moto 5.2.5 records an UpdateItem that creates an item as two INSERTs, the first with only
/// the keys in its new image; DynamoDB records one, with the whole item. The first is dropped.
pub fn without_moto_key_only_inserts(records: Vec<Record>) -> Vec<Record> {
    let doubled = |r: &Record, next: Option<&Record>| {
        next.is_some_and(|n| {
            n.event_name == Some(OperationType::Insert) && keys_of(n) == keys_of(r)
        })
    };
    let drop: Vec<bool> = (0..records.len())
        .map(|i| keys_only_insert(&records[i]) && doubled(&records[i], records.get(i + 1)))
        .collect();
    let kept = records.into_iter().zip(drop);
    kept.filter_map(|(r, drop)| (!drop).then_some(r)).collect()
}

/// An image as the Lambda DynamoDB event (and the publisher) holds it.
pub(crate) fn image(image: Option<&HashMap<String, AttributeValue>>) -> serde_dynamo::Item {
    serde_dynamo::Item::from(image.cloned().unwrap_or_default())
}

/// A stream record as Lambda's event source mapping puts it in the publisher's event (JSON).
pub fn lambda_record(r: &Record, arn: &str) -> Result<Value, serde_json::Error> {
    let change = r.dynamodb.as_ref();
    let images = |which: fn(
        &aws_sdk_dynamodbstreams::types::StreamRecord,
    ) -> Option<&HashMap<String, AttributeValue>>| {
        change
            .and_then(which)
            .map(|i| serde_json::to_value(image(Some(i))))
            .transpose()
    };
    let mut dynamodb = json!({
        "ApproximateCreationDateTime": change.and_then(|c| c.approximate_creation_date_time).map(|t| t.secs()),
        "Keys": images(|c| c.keys.as_ref())?,
        "SequenceNumber": change.and_then(|c| c.sequence_number.clone()),
        "SizeBytes": change.and_then(|c| c.size_bytes),
        "StreamViewType": change.and_then(|c| c.stream_view_type.as_ref()).map(|v| v.as_str()),
    });
    for (name, i) in [
        ("NewImage", images(|c| c.new_image.as_ref())?),
        ("OldImage", images(|c| c.old_image.as_ref())?),
    ] {
        if let Some(i) = i {
            dynamodb[name] = i;
        }
    }
    Ok(json!({
        "eventID": r.event_id,
        "eventName": r.event_name.as_ref().map(|n| n.as_str()),
        "eventVersion": r.event_version,
        "eventSource": r.event_source,
        "awsRegion": r.aws_region,
        "eventSourceARN": arn,
        "dynamodb": dynamodb,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_dynamodbstreams::types::StreamRecord;
    use aws_types::service_config::LoadServiceConfig;

    fn key(pk: &str) -> HashMap<String, AttributeValue> {
        HashMap::from([("pk".to_owned(), AttributeValue::S(pk.to_owned()))])
    }

    fn insert(pk: &str, extra: bool) -> Record {
        let mut new = key(pk);
        if extra {
            new.insert("n".to_owned(), AttributeValue::N("1".to_owned()));
        }
        let change = StreamRecord::builder()
            .set_keys(Some(key(pk)))
            .set_new_image(Some(new))
            .build();
        Record::builder()
            .event_name(OperationType::Insert)
            .dynamodb(change)
            .build()
    }

    #[test]
    fn drops_a_keys_only_insert_only_when_its_full_insert_follows() {
        let records = vec![
            insert("a", false),
            insert("a", true),
            insert("b", false),
            insert("c", true),
            insert("c", false),
        ];
        let kept = without_moto_key_only_inserts(records);
        let kept: Vec<(bool, bool)> = kept
            .iter()
            .map(|r| (keys_of(r) == Some(&key("a")), keys_only_insert(r)))
            .collect();
        assert_eq!(
            kept,
            [(true, false), (false, true), (false, false), (false, true)]
        );
    }

    #[derive(Debug)]
    struct Env(&'static [(&'static str, &'static str)]);

    impl LoadServiceConfig for Env {
        fn load_config(&self, key: ServiceConfigKey<'_>) -> Option<String> {
            let name = match key.service_id() {
                "DynamoDB" => "AWS_ENDPOINT_URL_DYNAMODB",
                "DynamoDB Streams" => "AWS_ENDPOINT_URL_DYNAMODB_STREAMS",
                _ => return None,
            };
            let found = self.0.iter().find(|(n, _)| *n == name);
            found.map(|(_, v)| (*v).to_owned())
        }
    }

    fn config(env: &'static [(&'static str, &'static str)]) -> SdkConfig {
        SdkConfig::builder().service_config(Env(env)).build()
    }

    #[test]
    fn streams_use_the_dynamodb_endpoint_unless_they_have_their_own() {
        const DYNAMODB: &[(&str, &str)] = &[("AWS_ENDPOINT_URL_DYNAMODB", "http://127.0.0.1:5000")];
        assert_eq!(
            streams_endpoint(&config(DYNAMODB)).as_deref(),
            Some("http://127.0.0.1:5000")
        );
        const BOTH: &[(&str, &str)] = &[
            ("AWS_ENDPOINT_URL_DYNAMODB", "http://127.0.0.1:5000"),
            ("AWS_ENDPOINT_URL_DYNAMODB_STREAMS", "http://127.0.0.1:6000"),
        ];
        assert_eq!(streams_endpoint(&config(BOTH)), None);
        assert_eq!(streams_endpoint(&config(&[])), None);
    }
}
