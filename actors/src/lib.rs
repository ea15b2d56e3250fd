//! streamhall-actors
