//! Credentials: HTTP Basic for QPS and CloudView, and the gateway's JWT from `POST /auth`
//! (a real three-part HS256 token whose payload carries `exp`).

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use sha2::{Digest, Sha256};

use super::clock::Millis;
use super::config::UserSpec;

/// `Authorization: Basic …` → (user, password).
pub fn basic(header: &str) -> Option<(String, String)> {
    let encoded = header
        .strip_prefix("Basic ")
        .or_else(|| header.strip_prefix("basic "))?;
    let decoded = STANDARD.decode(encoded.trim()).ok()?;
    let text = String::from_utf8(decoded).ok()?;
    // Some clients (and the docs' own sample) leave a trailing newline in the encoded pair.
    let text = text.trim_end_matches(['\n', '\r']);
    let (user, password) = text.split_once(':')?;
    Some((user.to_string(), password.to_string()))
}

pub fn bearer(header: &str) -> Option<&str> {
    header
        .strip_prefix("Bearer ")
        .or_else(|| header.strip_prefix("bearer "))
        .map(str::trim)
}

pub fn check_password<'a>(users: &'a [UserSpec], name: &str, password: &str) -> Option<&'a UserSpec> {
    users.iter().find(|u| u.name == name && u.password == password)
}

fn hmac_sha256(key: &[u8], message: &[u8]) -> [u8; 32] {
    let mut block = [0u8; 64];
    if key.len() > 64 {
        block[..32].copy_from_slice(&Sha256::digest(key));
    } else {
        block[..key.len()].copy_from_slice(key);
    }
    let inner_pad: Vec<u8> = block.iter().map(|b| b ^ 0x36).collect();
    let outer_pad: Vec<u8> = block.iter().map(|b| b ^ 0x5c).collect();
    let inner = Sha256::new().chain_update(&inner_pad).chain_update(message).finalize();
    Sha256::new()
        .chain_update(&outer_pad)
        .chain_update(inner)
        .finalize()
        .into()
}

/// Issues and checks gateway tokens.
#[derive(Debug, Clone)]
pub struct TokenIssuer {
    secret: [u8; 32],
}

impl TokenIssuer {
    pub fn new() -> Self {
        let mut secret = [0u8; 32];
        secret[..16].copy_from_slice(uuid::Uuid::new_v4().as_bytes());
        secret[16..].copy_from_slice(uuid::Uuid::new_v4().as_bytes());
        Self { secret }
    }

    pub fn issue(&self, user: &str, now: Millis, ttl_ms: i64) -> String {
        let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"HS256","typ":"JWT"}"#);
        let payload = serde_json::json!({
            "sub": user,
            "user_name": user,
            "iss": "qualys-operator-simulator",
            "iat": now / 1000,
            "exp": (now + ttl_ms) / 1000,
            "jti": uuid::Uuid::new_v4().to_string(),
        });
        let payload = URL_SAFE_NO_PAD.encode(payload.to_string());
        let signing_input = format!("{header}.{payload}");
        let signature = URL_SAFE_NO_PAD.encode(hmac_sha256(&self.secret, signing_input.as_bytes()));
        format!("{signing_input}.{signature}")
    }

    /// The user a token was issued to, if it is genuine and not expired.
    pub fn verify(&self, token: &str, now: Millis) -> Result<String, &'static str> {
        let mut parts = token.split('.');
        let (Some(header), Some(payload), Some(signature), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err("malformed token");
        };
        let expected = hmac_sha256(&self.secret, format!("{header}.{payload}").as_bytes());
        let given = URL_SAFE_NO_PAD.decode(signature).map_err(|_| "malformed token")?;
        // Constant time is overkill for a simulator, but costs nothing.
        if given.len() != expected.len() || given.iter().zip(expected).fold(0u8, |acc, (a, b)| acc | (a ^ b)) != 0 {
            return Err("invalid token signature");
        }
        let payload = URL_SAFE_NO_PAD.decode(payload).map_err(|_| "malformed token")?;
        let claims: serde_json::Value = serde_json::from_slice(&payload).map_err(|_| "malformed token")?;
        let exp = claims["exp"].as_i64().ok_or("token without exp")?;
        if now / 1000 >= exp {
            return Err("token expired");
        }
        claims["sub"]
            .as_str()
            .map(str::to_string)
            .ok_or("token without subject")
    }
}

impl Default for TokenIssuer {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hmac_matches_rfc_4231_case_2() {
        let mac = hmac_sha256(b"Jefe", b"what do ya want for nothing?");
        let hex: String = mac.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(hex, "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
    }

    #[test]
    fn tokens_expire_and_cannot_be_forged() {
        let issuer = TokenIssuer::new();
        let token = issuer.issue("demo", 1_000_000, 60_000);
        assert_eq!(issuer.verify(&token, 1_000_000), Ok("demo".to_string()));
        assert_eq!(issuer.verify(&token, 1_060_000), Err("token expired"));
        assert!(TokenIssuer::new().verify(&token, 1_000_000).is_err());
        assert_eq!(basic("Basic ZGVtbzpkZW1v"), Some(("demo".into(), "demo".into())));
    }
}
