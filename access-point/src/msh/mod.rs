//! The message service handler: the receive and send pipelines around the store.
//!
//! - [`submit`]: local submissions, stored durably as `Submitted` before they are accepted.
//! - [`scheduler`]: the sender task (claims due messages, bounded concurrency, retry decisions).
//! - [`outcome`]: attempt results, the table of peer error codes (final or retryable), final outcomes.
//! - [`resolver`]: [`RecipientResolver`], the static `[[peers]]` table ([`StaticPeers`]).

pub mod node;
pub mod outcome;
pub mod receive;
pub mod resolver;
pub mod scheduler;
pub mod send;
pub mod submit;

pub use node::{load_pmodes, Node, NodeError, NodeOptions, NodeShutdown};
pub use outcome::{AttemptResult, Disposition, Outcome, PeerError};
pub use resolver::{RecipientQuery, RecipientResolver, ResolveError, ResolvedRecipient, StaticPeers};
pub use scheduler::{Deliverer, Sender, SenderSettings, SENDER_ACTOR};
pub use submit::{Accepted, Submission, SubmitError, SubmittedPayload};
