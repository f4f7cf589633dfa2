//! Streaming gzip payload compression and decompression with a decompressed-size cap (EBMS:0303 on failure).
