//! streamhall-migration
