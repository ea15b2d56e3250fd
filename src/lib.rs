//! streamhall
