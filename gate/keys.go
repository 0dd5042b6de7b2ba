package gate

import (
	"bytes"
	"crypto"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"os"
)

// MinSecret is the shortest HMAC secret accepted: 32 bytes, the HS256 hash
// size (RFC 7518 3.2 requires a key at least that long).
const MinSecret = 32

// LoadSecret reads an HMAC secret file. Trailing CR, LF, spaces and tabs
// are dropped (files written by editors and `openssl rand -hex 32 >` end
// in a newline); every other byte is key material, used as is.
func LoadSecret(path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("-jwt-secret-file: %w", err)
	}
	b = bytes.TrimRight(b, "\r\n \t")
	if len(b) < MinSecret {
		return nil, fmt.Errorf("-jwt-secret-file %s: %d bytes, at least %d required", path, len(b), MinSecret)
	}
	return b, nil
}

// LoadPublicKey reads the first PEM block of a file: a PUBLIC KEY (PKIX:
// RSA, ECDSA or Ed25519), an RSA PUBLIC KEY (PKCS #1) or a CERTIFICATE
// (its key is used; the certificate itself is not validated). A private
// key is refused: the gateway only verifies.
func LoadPublicKey(path string) (crypto.PublicKey, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("-jwt-public-key: %w", err)
	}
	k, err := ParsePublicKeyPEM(b)
	if err != nil {
		return nil, fmt.Errorf("-jwt-public-key %s: %w", path, err)
	}
	return k, nil
}

// ParsePublicKeyPEM is LoadPublicKey on bytes.
func ParsePublicKeyPEM(b []byte) (crypto.PublicKey, error) {
	blk, _ := pem.Decode(b)
	if blk == nil {
		return nil, fmt.Errorf("no PEM block")
	}
	var k crypto.PublicKey
	var err error
	switch blk.Type {
	case "PUBLIC KEY":
		k, err = x509.ParsePKIXPublicKey(blk.Bytes)
	case "RSA PUBLIC KEY":
		k, err = x509.ParsePKCS1PublicKey(blk.Bytes)
	case "CERTIFICATE":
		var c *x509.Certificate
		if c, err = x509.ParseCertificate(blk.Bytes); err == nil {
			k = c.PublicKey
		}
	default:
		return nil, fmt.Errorf("PEM block %q: want PUBLIC KEY, RSA PUBLIC KEY or CERTIFICATE (never a private key)", blk.Type)
	}
	if err != nil {
		return nil, fmt.Errorf("PEM block %q: %w", blk.Type, err)
	}
	if _, err := publicKeyAlgs(k); err != nil {
		return nil, err
	}
	return k, nil
}
