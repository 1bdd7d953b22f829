//! # ferry-core
//!
//! Ferry's pure domain. Plain values in, plain values out: no tokio, no AWS SDK, no rdkafka.
//! Everything that decides *what* happens during a migration lives here, so it can be
//! unit- and property-tested without a broker:
//!
//! * [`policy`]: the replication policy (source topic name → target topic name) and topic filters.
//! * [`record`]: the record shape Ferry mirrors (key, value, headers, timestamp).
//! * [`progress`]: per-partition mirror progress and the exactly-once dedup decision
//!   ([`progress::plan_partition`]) plus segment building ([`progress::advance`]).
//! * [`translate`]: exact source → target offset translation over segments.
//! * [`checkpoint`]: checkpoint rules (never backwards, never past progress) and per-group
//!   planning ([`checkpoint::plan_group`]).
//! * [`checksum`]: ordered content checksums used by validation and tests.
//! * [`validation`]: validation math (lag, window planning, first difference, heartbeats).
//! * [`failure`]: the fixed set of Lambda error types (`Ferry.*`) that Retry/Catch and alarms name.
//! * [`ports`]: the capabilities (traits) that adapters implement, one capability each with its
//!   typed error: progress, segment, checkpoint and migration stores; target producer,
//!   offsets and metadata; source and target consumer groups; source end offsets and log
//!   bounds; range reads ([`ports::RangeReader`], at a [`ports::ReadIsolation`]); topic listing,
//!   description, creation and target topic administration; target storage; event source
//!   mapping control and creation; secrets ([`ports::SecretSource`]).
//! * [`migration`]: the migration's state document and the cutover rules (consumers before
//!   producers, rollback until producers move, exact reverse translation).
//! * [`topics`]: topic/partition identities ([`topics::partition`]),
//!   topic descriptions and the config filter ([`topics::description`]), the target
//!   provisioning plan (create, add partitions, config sync with MirrorMaker 2-style excludes;
//!   [`topics::provision`]) and the preflight checks (typed findings; [`topics::preflight`]).
//! * [`msk`]: Amazon MSK targets as plain values: cluster facts from the control plane
//!   ([`msk::ClusterFacts`]), the listener per auth mode ([`msk::MskAuth`]), the MSK Serverless
//!   limits checked as preflight findings ([`msk::check_serverless`]) and broker volume sizing
//!   ([`msk::size_volumes`]).
//! * [`parts`]: documents larger than one DynamoDB item, split into parts ([`parts::split`]).
//! * [`tiering`]: the volume tiers of `ferry plan` (measured rates and sizes → tier → event
//!   source mapping settings).
//! * [`discovery`]: which source topics still need an event source mapping (new topics, the
//!   heartbeat topic), which mappings lost their topic, and a new mapping's measurement and
//!   source access configuration.
//! * [`settings`]: typed reading of the functions' `FERRY_*` settings (errors name the variable).
//! * [`storage`]: [`storage::UnknownStorage`], the target storage port where the target's
//!   capacity is not known (the preflight skips its storage check).
//!
//! The in-memory fakes of the ports live in the `ferry-testkit` crate, a dev-dependency only.
//!
//! The invariants each module guarantees are written on the items and checked by proptests.

pub mod checkpoint;
pub mod checksum;
pub mod discovery;
pub mod events;
pub mod failure;
pub mod migration;
pub mod msk;
pub mod parts;
pub mod policy;
pub mod ports;
pub mod progress;
pub mod record;
pub mod settings;
pub mod storage;
pub mod tiering;
pub mod topics;
pub mod translate;
pub mod validation;

pub use progress::{Progress, Segment};
pub use record::{Header, MirrorRecord, TimestampType};
pub use topics::TopicPartition;
