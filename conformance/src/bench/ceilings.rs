//! The machine's cryptographic ceilings, measured with `openssl speed` in the same run as the benchmark: RSA private
//! key operations (each signed + encrypted SDK message costs three: the sender's signature, the receiver's
//! decryption of the content key, the receiver's signature on the receipt) and AES-128-GCM bulk encryption.

use std::process::Command;

/// What `openssl speed` measured (one core).
#[derive(Debug, Clone, PartialEq)]
pub struct Ceilings {
    /// `openssl version`.
    pub openssl_version: String,
    pub rsa2048_sign_per_s: f64,
    pub rsa3072_sign_per_s: f64,
    pub rsa3072_verify_per_s: f64,
    /// AES-128-GCM (EVP) on 16 KiB blocks, bytes per second.
    pub aes128gcm_bytes_per_s: f64,
}

/// RSA private-key operations per delivered SDK message with a receipt (sign, decrypt the content key, sign the
/// receipt).
pub const PRIVATE_OPS_PER_MESSAGE: f64 = 3.0;

impl Ceilings {
    /// Messages per second one core could sign, decrypt and acknowledge if it did nothing but RSA-3072 (the key size
    /// of SDK message certificates).
    pub fn rsa_message_ceiling(&self) -> f64 {
        self.rsa3072_sign_per_s / PRIVATE_OPS_PER_MESSAGE
    }
}

#[derive(Debug, thiserror::Error)]
pub enum CeilingError {
    #[error("running openssl {args}: {detail}")]
    Run { args: String, detail: String },
    #[error("openssl {args}: no result line starting with {prefix:?} in its output")]
    Parse { args: String, prefix: String },
}

fn openssl(args: &[&str]) -> Result<String, CeilingError> {
    let out = Command::new("openssl")
        .args(args)
        .output()
        .map_err(|e| CeilingError::Run {
            args: args.join(" "),
            detail: e.to_string(),
        })?;
    if !out.status.success() {
        return Err(CeilingError::Run {
            args: args.join(" "),
            detail: String::from_utf8_lossy(&out.stderr).into_owned(),
        });
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// The numbers of the last line of `text` that starts with `prefix` (after leading spaces), in order.
fn result_numbers(text: &str, prefix: &str) -> Option<Vec<f64>> {
    let line = text.lines().rev().find(|l| l.trim_start().starts_with(prefix))?;
    Some(
        line.trim_start()[prefix.len()..]
            .split_whitespace()
            .filter_map(|w| w.trim_end_matches(['s', 'k']).parse().ok())
            .collect(),
    )
}

/// `rsa 2048 bits 0.000248s 0.000017s   4035.4  60465.3` → (sign/s, verify/s), the last two figures.
pub fn parse_rsa(text: &str, bits: u32) -> Option<(f64, f64)> {
    let numbers = result_numbers(text, &format!("rsa {bits} bits"))?;
    let n = numbers.len();
    (n >= 2).then(|| (numbers[n - 2], numbers[n - 1]))
}

/// `AES-128-GCM    4471277.19k` (thousands of bytes per second for the one block size asked) → bytes/s.
pub fn parse_aes_gcm(text: &str) -> Option<f64> {
    let line = text
        .lines()
        .rev()
        .find(|l| l.trim_start().to_ascii_uppercase().starts_with("AES-128-GCM"))?;
    let figure = line.split_whitespace().last()?;
    let thousands: f64 = figure.strip_suffix('k')?.parse().ok()?;
    Some(thousands * 1000.0)
}

/// Runs `openssl speed` for RSA 2048/3072 and AES-128-GCM, `seconds` per measurement.
pub fn measure(seconds: u32) -> Result<Ceilings, CeilingError> {
    let secs = seconds.max(1).to_string();
    let version = openssl(&["version"])?.trim().to_string();
    let rsa = |bits: u32| -> Result<(f64, f64), CeilingError> {
        let name = format!("rsa{bits}");
        let args = ["speed", "-seconds", &secs, &name];
        let text = openssl(&args)?;
        parse_rsa(&text, bits).ok_or_else(|| CeilingError::Parse {
            args: args.join(" "),
            prefix: format!("rsa {bits} bits"),
        })
    };
    let (rsa2048_sign, _) = rsa(2048)?;
    let (rsa3072_sign, rsa3072_verify) = rsa(3072)?;
    let args = ["speed", "-seconds", &secs, "-bytes", "16384", "-evp", "aes-128-gcm"];
    let aes = parse_aes_gcm(&openssl(&args)?).ok_or_else(|| CeilingError::Parse {
        args: args.join(" "),
        prefix: "AES-128-GCM".into(),
    })?;
    Ok(Ceilings {
        openssl_version: version,
        rsa2048_sign_per_s: rsa2048_sign,
        rsa3072_sign_per_s: rsa3072_sign,
        rsa3072_verify_per_s: rsa3072_verify,
        aes128gcm_bytes_per_s: aes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const RSA: &str = "Doing 2048 bits private rsa's for 1s: 4035 2048 bits private RSA's in 1.00s\n\
        version: 3.0.19\n                  sign    verify    sign/s verify/s\n\
        rsa 2048 bits 0.000248s 0.000017s   4035.4  60465.3\n";
    const AES: &str = "The 'numbers' are in 1000s of bytes per second processed.\n\
        type          16384 bytes\nAES-128-GCM    4471277.19k\n";

    #[test]
    fn parses_openssl_speed_result_lines() {
        assert_eq!(parse_rsa(RSA, 2048), Some((4035.4, 60465.3)));
        assert_eq!(parse_rsa(RSA, 3072), None);
        assert_eq!(parse_aes_gcm(AES), Some(4_471_277_190.0));
        assert_eq!(parse_aes_gcm("AES-128-GCM garbage"), None);
    }

    #[test]
    fn the_message_ceiling_is_three_private_operations() {
        let c = Ceilings {
            openssl_version: String::new(),
            rsa2048_sign_per_s: 4000.0,
            rsa3072_sign_per_s: 1200.0,
            rsa3072_verify_per_s: 20000.0,
            aes128gcm_bytes_per_s: 1e9,
        };
        assert_eq!(c.rsa_message_ceiling(), 400.0);
    }
}
