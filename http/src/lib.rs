//! streamhall-http
