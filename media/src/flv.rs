//! flv (under construction)
