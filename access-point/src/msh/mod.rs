//! The message service handler: the receive and send pipelines around the store.
//!
//! - [`submit`]: local submissions, stored durably as `Submitted` before they are accepted.
//! - [`scheduler`]: the sender task (claims due messages, bounded concurrency, retry decisions).
//! - [`outcome`]: attempt results, the table of peer error codes (final or retryable), final outcomes.
//! - [`resolver`]: [`RecipientResolver`], the static `[[peers]]` table ([`StaticPeers`]).

pub mod outcome;
pub mod resolver;
pub mod scheduler;
#[allow(dead_code)] // wired into `Node` once the pipelines land
pub mod submit;

pub use outcome::{AttemptResult, Disposition, Outcome, PeerError};
pub use resolver::{RecipientQuery, RecipientResolver, ResolveError, ResolvedRecipient, StaticPeers};
pub use scheduler::{Deliverer, Sender, SenderSettings, SENDER_ACTOR};
pub use submit::{Accepted, Submission, SubmitError, SubmittedPayload};
