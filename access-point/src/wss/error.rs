//! Why encrypting or decrypting attachments failed, and the ebMS error each failure is reported as.

/// The two ebMS3 core §6.7.2 security errors that decryption can end in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EncryptionEbmsError {
    /// EBMS:0102 FailedDecryption: the message could not be decrypted.
    FailedDecryption,
    /// EBMS:0103 PolicyNoncompliance: the message is not encrypted the way the P-Mode requires.
    PolicyNoncompliance,
}

impl EncryptionEbmsError {
    /// The ebMS error code, e.g. `EBMS:0102`.
    pub fn code(self) -> &'static str {
        match self {
            EncryptionEbmsError::FailedDecryption => "EBMS:0102",
            EncryptionEbmsError::PolicyNoncompliance => "EBMS:0103",
        }
    }

    /// The ebMS short description, e.g. `FailedDecryption`.
    pub fn short_description(self) -> &'static str {
        match self {
            EncryptionEbmsError::FailedDecryption => "FailedDecryption",
            EncryptionEbmsError::PolicyNoncompliance => "PolicyNoncompliance",
        }
    }
}

/// A failure of attachment encryption or decryption.
#[derive(Debug, thiserror::Error)]
pub enum EncryptionError {
    // --- the message cannot be decrypted (EBMS:0102) ---
    #[error("the encryption header is malformed: {0}")]
    Malformed(String),
    #[error("the encrypted key is addressed to another recipient than this access point")]
    NotForThisRecipient,
    #[error("the content key could not be recovered ({0})")]
    KeyUnwrapFailed(&'static str),
    #[error("attachment {content_id}: the AES-GCM authentication tag did not verify")]
    TagMismatch { content_id: String },
    #[error("attachment {content_id}: the encrypted part is shorter than its IV and tag")]
    Truncated { content_id: String },
    #[error("attachment {content_id}: more than {max} bytes (max_attachment_bytes)")]
    AttachmentTooLarge { content_id: String, max: u64 },
    #[error("I/O error while streaming an attachment: {0}")]
    Io(#[from] std::io::Error),
    #[error("cryptographic library error: {0}")]
    Crypto(#[from] openssl::error::ErrorStack),

    // --- the message is not encrypted as the P-Mode requires (EBMS:0103) ---
    #[error("{element}: algorithm {found} is not allowed (the P-Mode expects {expected})")]
    AlgorithmNotAllowed {
        element: &'static str,
        found: String,
        expected: String,
    },
    #[error("{element}: {found} is not allowed (the P-Mode expects {expected})")]
    ParameterNotAllowed {
        element: &'static str,
        found: String,
        expected: String,
    },
    #[error("EncryptedData {id} is not referenced by the EncryptedKey")]
    UnreferencedEncryptedData { id: String },
    #[error("the EncryptedKey references {reference}, which is not an EncryptedData of this message")]
    DanglingDataReference { reference: String },
    #[error("attachment {content_id} must be encrypted but is not")]
    AttachmentNotEncrypted { content_id: String },
    #[error("EncryptedData refers to attachment {content_id}, which the message does not carry")]
    MissingAttachment { content_id: String },
    #[error("more than one {0} in the security header")]
    Duplicate(String),
    #[error("the recipient key or certificate does not suit {0}")]
    UnsuitableRecipient(String),
}

impl EncryptionError {
    /// The ebMS error this failure is reported as.
    pub fn ebms_error(&self) -> EncryptionEbmsError {
        use EncryptionError::*;
        match self {
            Malformed(_)
            | NotForThisRecipient
            | KeyUnwrapFailed(_)
            | TagMismatch { .. }
            | Truncated { .. }
            | AttachmentTooLarge { .. }
            | Io(_)
            | Crypto(_) => EncryptionEbmsError::FailedDecryption,
            AlgorithmNotAllowed { .. }
            | ParameterNotAllowed { .. }
            | UnreferencedEncryptedData { .. }
            | DanglingDataReference { .. }
            | AttachmentNotEncrypted { .. }
            | MissingAttachment { .. }
            | Duplicate(_)
            | UnsuitableRecipient(_) => EncryptionEbmsError::PolicyNoncompliance,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_map_to_ebms_codes() {
        assert_eq!(
            EncryptionError::TagMismatch { content_id: "a".into() }
                .ebms_error()
                .code(),
            "EBMS:0102"
        );
        let refused = EncryptionError::AlgorithmNotAllowed {
            element: "x",
            found: "a".into(),
            expected: "b".into(),
        };
        assert_eq!(refused.ebms_error().code(), "EBMS:0103");
        assert_eq!(refused.ebms_error().short_description(), "PolicyNoncompliance");
    }
}
