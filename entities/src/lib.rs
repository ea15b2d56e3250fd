//! streamhall-entities
