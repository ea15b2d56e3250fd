//! streamhall: the binary's library half (configuration, telemetry, wiring), kept in a
//! library so integration tests boot exactly what `streamhall serve` boots.

pub mod accounts;
pub mod backup;
pub mod config;
pub mod startup;
pub mod telemetry;
