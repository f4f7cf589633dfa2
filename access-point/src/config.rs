//! The node configuration file (`sdk-ap.toml`): typed settings with defaults and errors that name file and setting.
