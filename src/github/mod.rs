//! GitHub at the I/O edge: the plan's pull-request comment. Requests are
//! values ([`request`]) that [`client`] sends with the workflow's token;
//! [`document`] and [`body`] turn a plan into the comment's text, split
//! into continued comments when it is too long for one; [`sync`] finds the
//! comment an earlier run posted and edits it in place. [`reviews`] reads
//! what a pull request's reviews prove, for the `approval.<who>` gates.

pub mod body;
pub mod client;
pub mod document;
pub mod request;
pub mod reviews;
pub mod sync;

pub use body::{Footer, MAX_COMMENT, bodies};
pub use client::{GitHub, GitHubError, Settings};
pub use document::Document;
pub use sync::{ACTIONS_BOT, Change, Done, author, publish};
