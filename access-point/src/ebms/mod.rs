//! ebMS3 / AS4 message model: build and parse UserMessage and SignalMessage (Receipt, Error, PullRequest), and the ebMS error table.
