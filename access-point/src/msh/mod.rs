//! The message service handler: the receive and send pipelines around the store (see `docs/msh.md`).
//!
//! - [`node`]: [`Node`] — configuration → keys, trust stores, P-Modes, store (recovered) → AS4 server + sender;
//!   [`Node::submit`], [`Node::subscribe`] (final outcomes), [`Node::shutdown`] (graceful).
//! - [`receive`]: the `POST /as4` handler ([`receive::Receiver`]): open (verify, decrypt, decompress), profile
//!   checks (EBMS:0004 `NOT_SERVICED`), duplicate detection, durable store, signed receipt or signed error.
//! - [`submit`]: local submissions, stored durably as `Submitted` before they are accepted.
//! - [`scheduler`]: the sender task (claims due messages, bounded concurrency, retry decisions by the P-Mode).
//! - [`send`]: one send attempt ([`send::As4Deliverer`]): resolve, seal, POST, verify the receipt.
//! - [`events`]: [`EventBus`] of [`ApEvent`]s (inbox, delivered, failed, kvittens) for the API's SSE and webhooks.
//! - [`outcome`]: attempt results, the table of peer error codes (final or retryable), final outcomes.
//! - [`resolver`]: [`RecipientResolver`], the static `[[peers]]` table ([`StaticPeers`]).
//! - [`discovery_resolver`]: SML/SMP discovery ([`DiscoveryResolver`]) behind the `[[peers]]` override
//!   ([`ChainedResolver`]).

pub mod discovery_resolver;
pub mod events;
pub mod node;
pub mod outcome;
pub mod receive;
pub mod resolver;
pub mod scheduler;
pub mod send;
pub mod submit;

pub use discovery_resolver::{ChainedResolver, DiscoveryResolver};
pub use events::{ApEvent, EventBus};
pub use node::{load_pmodes, Node, NodeError, NodeOptions, NodeShutdown};
pub use outcome::{AttemptResult, Disposition, Outcome, PeerError};
pub use resolver::{RecipientQuery, RecipientResolver, ResolveError, ResolvedRecipient, StaticPeers};
pub use scheduler::{Deliverer, Sender, SenderSettings, SENDER_ACTOR};
pub use submit::{Accepted, Submission, SubmitError, SubmittedPayload};
