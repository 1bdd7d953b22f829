//! Amazon MSK as a migration target, as plain values: what the control plane tells about a
//! cluster ([`ClusterFacts`], [`BootstrapBrokers`], [`MskAuth`]), the checks of a migration
//! onto MSK Serverless ([`check_serverless`], typed preflight findings), the broker volume
//! sizing for a Provisioned target ([`size_volumes`]) and the properties text MSK's topic API
//! carries topic configs in ([`to_properties`], [`parse_properties`]). The AWS calls are
//! `ferry-aws`'s (`ferry_aws::msk`), behind the [`crate::ports::ClusterDescriber`] and
//! [`crate::ports::ClusterBootstrap`] ports.
//!
//! Files: `facts` (cluster facts, auth modes, bootstrap strings), `properties` (configs text),
//! `serverless` (the Serverless limits with their sources), `sizing` (volume sizing).
//! Everything is re-exported here.

mod facts;
mod properties;
mod serverless;
mod sizing;

pub use facts::*;
pub use properties::{parse_properties, to_properties};
pub use serverless::*;
pub use sizing::*;

#[cfg(test)]
mod tests;
