//! # cutover
//!
//! The cutover Lambda: every task of the cutover state machine
//! (`infra/statemachine/cutover.asl.json`) that is not validation.
//!
//! * [`preflight`]: topic provisioning and config sync on the target, and the preflight checks.

pub mod preflight;
