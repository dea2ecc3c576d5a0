//! What administrators run on the host: quickstart, account creation, and the development
//! data generator.

pub mod generate;
pub mod quickstart;
