package provider

import (
	"context"
	"crypto/hmac"
	"crypto/sha512"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"strings"

	"github.com/ory/fosite"
	"github.com/ory/fosite/handler/oauth2"

	"github.com/fosite-mcp/fosite-mcp/internal/randid"
)

// orderedHMAC is fosite's HMAC strategy for codes and tokens with one change: a new
// code's or token's key starts with its issue time (6 bytes, milliseconds since the Unix
// epoch, big-endian) before the random bytes, and its storage signature starts with that
// time in hex ("0193a1b2c3d4.<HMAC>"). Storage that indexes tokens by a hash of their
// signature keeps the time in clear before the hash (SignatureIssueOrder), so the keys of
// tokens issued together sit together in its indexes: a batch of token responses changes a
// few index pages instead of one per token (on SQLite, +14-30 % refreshes per second;
// test/load/README.md, session 14).
//
// The token's format, HMAC and validation are fosite's: tokens are "ory_at_KEY.HMAC"
// (ory_rt_, ory_ac_) checked by fosite's Enigma against the current and rotated secrets,
// so tokens issued before (fosite's 32 random bytes, no time) stay valid, their
// signatures the plain HMAC as before.
type orderedHMAC struct {
	*oauth2.HMACSHAStrategy
	config *fosite.Config
}

// The prefixes fosite's HMAC strategy gives access tokens, refresh tokens and codes.
const (
	opaqueAccessTokenPrefix = "ory_at_"
	refreshTokenPrefix      = "ory_rt_"
	authorizeCodePrefix     = "ory_ac_"
)

// An ordered token's key is its issue time and 32 random bytes (fosite's minimum entropy;
// fosite's keys are exactly that, so the lengths tell the two kinds apart). Its signature
// starts with orderPrefixLen characters: the time in hex and a dot.
const (
	orderTimeLen   = randid.TimeLen
	orderedKeyLen  = orderTimeLen + 32
	orderPrefixLen = 2*orderTimeLen + 1 // the hex time and its dot
)

// hmacB64 is fosite's encoding of keys and signatures.
var hmacB64 = base64.RawURLEncoding

// generate issues a code or token with prefix (fosite's "ory_at_", …): the token and its
// storage signature.
func (o *orderedHMAC) generate(ctx context.Context, prefix string) (token, signature string, err error) {
	secret, err := o.config.GetGlobalSecret(ctx)
	if err != nil {
		return "", "", err
	}
	if len(secret) < 32 {
		return "", "", fmt.Errorf("provider: the HMAC secret has %d bytes, want 32", len(secret))
	}
	key, err := randid.OrderedBytes(orderedKeyLen - orderTimeLen)
	if err != nil {
		return "", "", err
	}
	hasher := o.config.GetHMACHasher(ctx)
	if hasher == nil {
		hasher = sha512.New512_256 // as fosite's Enigma
	}
	mac := hmac.New(hasher, secret[:32]) // fosite's Enigma signs with the secret's first 32 bytes
	mac.Write(key)
	sig := hmacB64.EncodeToString(mac.Sum(nil))
	return prefix + hmacB64.EncodeToString(key) + "." + sig,
		hex.EncodeToString(key[:orderTimeLen]) + "." + sig, nil
}

// orderedSignature is the storage signature of token (its prefix trimmed): the hex issue time
// and the HMAC for an ordered token, the HMAC alone for one of fosite's, "" when token
// is not KEY.HMAC. As fosite's, it checks the form only; the HMAC is checked by Validate.
func orderedSignature(token, prefix string) string {
	key, sig, ok := strings.Cut(strings.TrimPrefix(token, prefix), ".")
	if !ok || sig == "" || strings.IndexByte(sig, '.') >= 0 {
		return ""
	}
	if len(key) == hmacB64.EncodedLen(orderedKeyLen) {
		var t [orderTimeLen]byte
		// The first 8 characters encode the first 6 bytes exactly.
		if n, err := hmacB64.Decode(t[:], []byte(key[:hmacB64.EncodedLen(orderTimeLen)])); err == nil && n == orderTimeLen {
			return hex.EncodeToString(t[:]) + "." + sig
		}
	}
	return sig
}

// SignatureIssueOrder returns the part of a storage signature that sorts by issue time:
// the first 13 characters (12 lowercase hex digits and a dot) of the signatures of the
// codes and tokens this package issues, "" for any other signature (those of tokens issued
// before, of JWT access tokens, of device codes). A Storage that stores a hash of the
// signature should store this prefix in clear before it, so that tokens issued together
// sit together in its indexes; it says no more than the row's issue time.
func SignatureIssueOrder(signature string) string {
	if len(signature) <= orderPrefixLen || signature[orderPrefixLen-1] != '.' {
		return ""
	}
	for i := 0; i < orderPrefixLen-1; i++ {
		if c := signature[i]; (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return ""
		}
	}
	return signature[:orderPrefixLen]
}

// GenerateAccessToken implements oauth2.AccessTokenStrategy.
func (o *orderedHMAC) GenerateAccessToken(ctx context.Context, _ fosite.Requester) (string, string, error) {
	return o.generate(ctx, opaqueAccessTokenPrefix)
}

// AccessTokenSignature implements oauth2.AccessTokenStrategy.
func (o *orderedHMAC) AccessTokenSignature(_ context.Context, token string) string {
	return orderedSignature(token, opaqueAccessTokenPrefix)
}

// GenerateRefreshToken implements oauth2.RefreshTokenStrategy.
func (o *orderedHMAC) GenerateRefreshToken(ctx context.Context, _ fosite.Requester) (string, string, error) {
	return o.generate(ctx, refreshTokenPrefix)
}

// RefreshTokenSignature implements oauth2.RefreshTokenStrategy.
func (o *orderedHMAC) RefreshTokenSignature(_ context.Context, token string) string {
	return orderedSignature(token, refreshTokenPrefix)
}

// GenerateAuthorizeCode implements oauth2.AuthorizeCodeStrategy.
func (o *orderedHMAC) GenerateAuthorizeCode(ctx context.Context, _ fosite.Requester) (string, string, error) {
	return o.generate(ctx, authorizeCodePrefix)
}

// AuthorizeCodeSignature implements oauth2.AuthorizeCodeStrategy.
func (o *orderedHMAC) AuthorizeCodeSignature(_ context.Context, token string) string {
	return orderedSignature(token, authorizeCodePrefix)
}
