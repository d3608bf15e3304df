package secret

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha512"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"golang.org/x/crypto/scrypt"
)

// Prefix marks a password in our format: AES-256-GCM with a key derived
// from the secret by scrypt, and a random salt and nonce.
const Prefix = "rbenc1:"

// scrypt parameters (2^15, 8, 1: about 32 MiB and tens of milliseconds, once
// per Dial).
const (
	scryptN, scryptR, scryptP = 1 << 15, 8, 1
	saltSize                  = 16
)

// Encrypt returns password encrypted with secret in our format:
// "rbenc1:" + base64(salt | nonce | AES-256-GCM ciphertext and tag), the key
// derived from secret by scrypt. `rabibridge encrypt-password` writes it.
func Encrypt(secret, password string) (string, error) {
	if secret == "" {
		return "", errors.New("bridge: an empty secret encrypts nothing")
	}
	salt := make([]byte, saltSize)
	if _, err := rand.Read(salt); err != nil {
		return "", err
	}
	aead, err := gcm(secret, salt)
	if err != nil {
		return "", err
	}
	nonce := make([]byte, aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return "", err
	}
	out := append(salt, nonce...)
	out = aead.Seal(out, nonce, []byte(password), []byte(Prefix))
	return Prefix + base64.StdEncoding.EncodeToString(out), nil
}

func gcm(secret string, salt []byte) (cipher.AEAD, error) {
	key, err := scrypt.Key([]byte(secret), salt, scryptN, scryptR, scryptP, 32)
	if err != nil {
		return nil, err
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block)
}

// Err is wrapped by the error of an encrypted password that cannot
// be read: no secret is set, or not the one it was encrypted with.
var Err = errors.New("bridge: the encrypted password does not decrypt")

// errDecrypt never says why, so that it leaks nothing about the password.
var errDecrypt = fmt.Errorf("%w with the secret: check [secret] SECRET (or RABIBRIDGE_SECRET), or store the password again with `rabibridge encrypt-password`", Err)

// Decrypt returns the password stored encrypted with secret: in our
// format (prefix "rbenc1:"), or else in RabiBridge's legacy AES-CBC form,
// which is only read, for existing config files.
func Decrypt(secret, stored string) (string, error) {
	if secret == "" {
		return "", fmt.Errorf("%w: no secret is set: set [secret] SECRET or RABIBRIDGE_SECRET", Err)
	}
	if !strings.HasPrefix(stored, Prefix) {
		return decryptLegacy(secret, stored)
	}
	raw, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(stored, Prefix))
	if err != nil || len(raw) < saltSize+12 {
		return "", errDecrypt
	}
	aead, err := gcm(secret, raw[:saltSize])
	if err != nil {
		return "", err
	}
	nonce, sealed := raw[saltSize:saltSize+aead.NonceSize()], raw[saltSize+aead.NonceSize():]
	plain, err := aead.Open(nil, nonce, sealed, []byte(Prefix))
	if err != nil {
		return "", errDecrypt
	}
	return string(plain), nil
}

// legacyKey derives RabiBridge's AES-256 key and IV: SHA-512 of the base64
// of the secret; the key is its first 32 bytes, the IV the next 16.
func legacyKey(secret string) (key, iv []byte) {
	k := sha512.Sum512([]byte(base64.StdEncoding.EncodeToString([]byte(secret))))
	return k[:32], k[32:48]
}

// decryptLegacy reads RabiBridge's form: base64(AES-CBC(base64(password)))
// with PKCS#7 padding.
func decryptLegacy(secret, stored string) (string, error) {
	ct, err := base64.StdEncoding.DecodeString(stored)
	if err != nil || len(ct) == 0 || len(ct)%aes.BlockSize != 0 {
		return "", errDecrypt
	}
	key, iv := legacyKey(secret)
	block, err := aes.NewCipher(key)
	if err != nil {
		return "", err
	}
	pt := make([]byte, len(ct))
	cipher.NewCBCDecrypter(block, iv).CryptBlocks(pt, ct)
	n := int(pt[len(pt)-1])
	if n == 0 || n > aes.BlockSize || n > len(pt) {
		return "", errDecrypt
	}
	for _, b := range pt[len(pt)-n:] {
		if int(b) != n {
			return "", errDecrypt
		}
	}
	inner, err := base64.StdEncoding.DecodeString(string(pt[:len(pt)-n]))
	if err != nil || !utf8.Valid(inner) {
		return "", errDecrypt
	}
	return string(inner), nil
}

// encryptLegacy writes RabiBridge's legacy form. Only tests use it: new
// passwords use Encrypt.
func encryptLegacy(secret, password string) string {
	key, iv := legacyKey(secret)
	block, _ := aes.NewCipher(key)
	pt := []byte(base64.StdEncoding.EncodeToString([]byte(password)))
	n := aes.BlockSize - len(pt)%aes.BlockSize
	for range n {
		pt = append(pt, byte(n))
	}
	ct := make([]byte, len(pt))
	cipher.NewCBCEncrypter(block, iv).CryptBlocks(ct, pt)
	return fmt.Sprint(base64.StdEncoding.EncodeToString(ct))
}
