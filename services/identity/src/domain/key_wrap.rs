//! Envelope encryption of signing keys at rest (ADR 3): each private key is sealed with
//! AES-256-GCM under a key-encryption key (KEK) named in `ITSM_KEY_ENCRYPTION_KEY`, with the
//! signing key's `kid` as associated data, so a sealed key cannot be moved to another row and
//! a database dump alone signs nothing.
use base64::{Engine, engine::general_purpose::STANDARD};
use ring::{
    aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey},
    rand::{SecureRandom, SystemRandom},
};

/// The configured key-encryption keys, written `id:base64(32 bytes)`, comma-separated. The
/// first seals; every one opens, so rotating the KEK is: put the new one first, restart
/// (identity re-seals every key under it), then drop the old one.
pub struct Keyring {
    keys: Vec<(String, LessSafeKey)>,
    rng: SystemRandom,
}

impl std::fmt::Debug for Keyring {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let ids: Vec<&str> = self.keys.iter().map(|(id, _)| id.as_str()).collect();
        f.debug_struct("Keyring").field("ids", &ids).finish()
    }
}

impl Keyring {
    pub fn parse(raw: &str) -> Result<Self, String> {
        let mut keys: Vec<(String, LessSafeKey)> = Vec::new();
        for entry in raw.split(',').map(str::trim).filter(|e| !e.is_empty()) {
            let (id, material) = entry
                .split_once(':')
                .ok_or("each key-encryption key is written id:base64")?;
            let id = id.trim();
            if id.is_empty()
                || id.len() > 32
                || !id
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
            {
                return Err(format!(
                    "key-encryption key id {id:?} must be 1-32 letters, digits, - or _"
                ));
            }
            if keys.iter().any(|(known, _)| known == id) {
                return Err(format!("key-encryption key id {id:?} is given twice"));
            }
            let bytes = STANDARD
                .decode(material.trim())
                .map_err(|_| format!("key-encryption key {id:?} is not base64"))?;
            if bytes.len() != 32 {
                return Err(format!(
                    "key-encryption key {id:?} has {} bytes; AES-256 takes 32",
                    bytes.len()
                ));
            }
            let key = UnboundKey::new(&AES_256_GCM, &bytes)
                .map_err(|_| format!("key-encryption key {id:?} is unusable"))?;
            keys.push((id.to_string(), LessSafeKey::new(key)));
        }
        if keys.is_empty() {
            return Err("no key-encryption key given".into());
        }
        Ok(Keyring {
            keys,
            rng: SystemRandom::new(),
        })
    }

    /// The id of the key that seals.
    pub fn current(&self) -> &str {
        self.keys.first().map_or("", |(id, _)| id.as_str())
    }

    /// Seals `plaintext` (the signing key `kid`'s private key) under the current KEK: the
    /// random nonce, then the ciphertext and tag.
    pub fn seal(&self, kid: &str, plaintext: &[u8]) -> Result<Vec<u8>, String> {
        let (_, key) = self.keys.first().ok_or("no key-encryption key")?;
        let mut nonce = [0u8; NONCE_LEN];
        self.rng
            .fill(&mut nonce)
            .map_err(|_| "no randomness for a nonce")?;
        let mut sealed = plaintext.to_vec();
        key.seal_in_place_append_tag(
            Nonce::assume_unique_for_key(nonce),
            Aad::from(kid.as_bytes()),
            &mut sealed,
        )
        .map_err(|_| "sealing failed")?;
        let mut out = nonce.to_vec();
        out.extend(sealed);
        Ok(out)
    }

    /// Opens what [`seal`](Self::seal) sealed for `kid` under the KEK `kek_id`.
    pub fn open(&self, kek_id: &str, kid: &str, sealed: &[u8]) -> Result<Vec<u8>, String> {
        let (_, key) = self
            .keys
            .iter()
            .find(|(id, _)| id == kek_id)
            .ok_or_else(|| {
                format!(
                    "signing key {kid} is sealed with key-encryption key {kek_id:?}, which \
                     ITSM_KEY_ENCRYPTION_KEY does not hold"
                )
            })?;
        if sealed.len() < NONCE_LEN {
            return Err(format!("signing key {kid}: sealed value too short"));
        }
        let (nonce, body) = sealed.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce)
            .map_err(|_| format!("signing key {kid}: bad nonce"))?;
        let mut body = body.to_vec();
        let plain = key
            .open_in_place(nonce, Aad::from(kid.as_bytes()), &mut body)
            .map_err(|_| {
                format!("signing key {kid} does not open under {kek_id:?}: altered or moved")
            })?;
        Ok(plain.to_vec())
    }
}

#[cfg(test)]
#[allow(clippy::expect_used)] // A test fails loudly on a broken set-up.
mod tests {
    use super::*;

    const K1: &str = "k1:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
    const K2: &str = "k2:HxwdHBsaGRgXFhUUExIREA8ODQwLCgkIBwYFBAMCAQA=";

    #[test]
    fn sealed_keys_open_only_for_their_row_and_under_a_known_kek() {
        let ring = Keyring::parse(K1).expect("k1");
        let sealed = ring.seal("kid-a", b"private").expect("seal");
        assert!(!sealed.windows(7).any(|w| w == b"private"));
        assert_eq!(ring.open("k1", "kid-a", &sealed).expect("open"), b"private");
        assert!(
            ring.open("k1", "kid-b", &sealed).is_err(),
            "moved to another row"
        );
        assert!(ring.open("k2", "kid-a", &sealed).is_err(), "unknown kek");
        let mut altered = sealed.clone();
        if let Some(b) = altered.last_mut() {
            *b ^= 1;
        }
        assert!(ring.open("k1", "kid-a", &altered).is_err());
    }

    #[test]
    fn rotation_opens_with_the_old_and_seals_with_the_new() {
        let old = Keyring::parse(K1).expect("k1");
        let sealed = old.seal("kid", b"secret").expect("seal");
        let both = Keyring::parse(&format!("{K2},{K1}")).expect("both");
        assert_eq!(both.current(), "k2");
        assert_eq!(both.open("k1", "kid", &sealed).expect("open"), b"secret");
        let resealed = both.seal("kid", b"secret").expect("seal");
        assert!(old.open("k1", "kid", &resealed).is_err());
        assert_eq!(both.open("k2", "kid", &resealed).expect("open"), b"secret");
    }

    #[test]
    fn malformed_keyrings_say_what_is_wrong() {
        for (raw, says) in [
            ("", "no key"),
            ("k1", "id:base64"),
            ("k1:!!", "not base64"),
            ("k1:AAAA", "takes 32"),
            (
                "bad id:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=",
                "letters",
            ),
            (&format!("{K1},{K1}"), "twice"),
        ] {
            let err = Keyring::parse(raw).expect_err(raw);
            assert!(err.contains(says), "{raw}: {err}");
        }
    }
}
