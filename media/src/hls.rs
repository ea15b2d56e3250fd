//! hls (under construction)
