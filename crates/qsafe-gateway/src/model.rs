//! The embedded model: the digits classifier of [`qsafe_model`] (re-exported here), and
//! [`sealed`], which loads its weights only from a file sealed to the gateway's model key and
//! signed by the publisher.

pub use qsafe_model::*;
pub mod sealed;
