//! rtmp (under construction)
