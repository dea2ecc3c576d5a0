//! Documentation: spaces (one per project, plus standalone ones), pages in a tree written in
//! Markdown, every saved text kept as a version (diff, restore), optimistic concurrency so
//! two editors never overwrite each other unseen, and the issues a page mentions.

pub mod api;
pub mod mentions;
pub mod page_handlers;
pub mod pages;
pub mod space_handlers;
pub mod spaces;
pub mod tree;
pub mod version_handlers;
pub mod versions;
