//! Streaming SOAP-with-attachments: a multipart/related reader that spools attachments to disk and a streaming writer.
