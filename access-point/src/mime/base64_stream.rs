//! Incremental base64 decoding for `Content-Transfer-Encoding: base64` parts: input arrives in arbitrary chunks,
//! whitespace (line breaks every 76 characters, or anywhere) is skipped, the final padding is optional.

use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig};
use base64::engine::DecodePaddingMode;
use base64::{alphabet, Engine};

/// Tolerant engine: final padding optional, non-zero trailing bits accepted (some encoders emit them).
const TOLERANT: GeneralPurpose = GeneralPurpose::new(
    &alphabet::STANDARD,
    GeneralPurposeConfig::new()
        .with_decode_allow_trailing_bits(true)
        .with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// The input is not valid base64.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct InvalidBase64;

/// Streaming decoder state: the characters of an incomplete 4-character group carried between chunks.
#[derive(Debug, Default)]
pub(crate) struct Base64Decoder {
    /// Significant (non-whitespace) characters not yet decoded; fewer than 4 between calls.
    pending: Vec<u8>,
    /// A padded group has been decoded: only whitespace may follow.
    padded_end_seen: bool,
}

impl Base64Decoder {
    pub(crate) fn new() -> Self {
        Self::default()
    }

    /// Decodes `input` and appends the bytes to `out`. Whole 4-character groups are decoded at once; the rest is
    /// kept for the next call.
    pub(crate) fn decode(&mut self, input: &[u8], out: &mut Vec<u8>) -> Result<(), InvalidBase64> {
        self.pending.reserve(input.len());
        if memchr::memchr(b'\t', input).is_some() {
            self.pending.extend(
                input
                    .iter()
                    .copied()
                    .filter(|b| !matches!(b, b'\r' | b'\n' | b' ' | b'\t')),
            );
        } else {
            // Fast path: copy the runs between line breaks and spaces (typically 76-character lines) whole.
            let mut rest = input;
            while let Some(i) = memchr::memchr3(b'\r', b'\n', b' ', rest) {
                self.pending.extend_from_slice(&rest[..i]);
                rest = &rest[i + 1..];
            }
            self.pending.extend_from_slice(rest);
        }
        if self.pending.is_empty() {
            return Ok(());
        }
        if self.padded_end_seen {
            return Err(InvalidBase64);
        }
        let whole = self.pending.len() / 4 * 4;
        if whole == 0 {
            return Ok(());
        }
        let groups = &self.pending[..whole];
        // Padding may only end the last group decoded; anything after it is an error.
        if let Some(first_pad) = memchr::memchr(b'=', groups) {
            if first_pad < whole - 4 || whole < self.pending.len() {
                return Err(InvalidBase64);
            }
            self.padded_end_seen = true;
        }
        let start = out.len();
        out.resize(start + whole / 4 * 3, 0);
        let written = TOLERANT
            .decode_slice(groups, &mut out[start..])
            .map_err(|_| InvalidBase64)?;
        out.truncate(start + written);
        self.pending.drain(..whole);
        Ok(())
    }

    /// Ends the stream: decodes an unpadded final group of 2 or 3 characters; a single left-over character is an
    /// error.
    pub(crate) fn finish(&mut self, out: &mut Vec<u8>) -> Result<(), InvalidBase64> {
        match self.pending.len() {
            0 => Ok(()),
            1 => Err(InvalidBase64),
            _ => {
                let decoded = TOLERANT.decode(&self.pending).map_err(|_| InvalidBase64)?;
                out.extend_from_slice(&decoded);
                self.pending.clear();
                Ok(())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::engine::general_purpose::STANDARD;

    fn decode_in_chunks(input: &[u8], chunk: usize) -> Result<Vec<u8>, InvalidBase64> {
        let mut decoder = Base64Decoder::new();
        let mut out = Vec::new();
        for piece in input.chunks(chunk.max(1)) {
            decoder.decode(piece, &mut out)?;
        }
        decoder.finish(&mut out)?;
        Ok(out)
    }

    #[test]
    fn decodes_across_chunk_boundaries_with_whitespace() {
        let data: Vec<u8> = (0..=255u8).cycle().take(1000).collect();
        let encoded = STANDARD.encode(&data);
        let wrapped: Vec<u8> = encoded
            .as_bytes()
            .chunks(76)
            .flat_map(|line| line.iter().copied().chain(*b"\r\n"))
            .collect();
        for chunk in [1, 2, 3, 5, 7, 64, 4096] {
            assert_eq!(decode_in_chunks(&wrapped, chunk).unwrap(), data, "chunk size {chunk}");
        }
        assert_eq!(decode_in_chunks(b"QU JD\tRA\n==", 1).unwrap(), b"ABCD");
    }

    #[test]
    fn padding_optional_at_end() {
        assert_eq!(decode_in_chunks(b"QUI", 2).unwrap(), b"AB");
        assert_eq!(decode_in_chunks(b"QQ", 1).unwrap(), b"A");
    }

    #[test]
    fn rejects_bad_input() {
        for bad in [&b"QUJD*A=="[..], b"Q", b"QQ==QUJD", b"QQ==\r\nQQ==", b"QUJDQ", b"Q==="] {
            for chunk in [1, 3, 100] {
                assert_eq!(
                    decode_in_chunks(bad, chunk),
                    Err(InvalidBase64),
                    "{bad:?} chunk {chunk}"
                );
            }
        }
    }
}
