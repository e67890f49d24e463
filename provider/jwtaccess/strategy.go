package jwtaccess

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/go-jose/go-jose/v3/jwt"
	"github.com/ory/fosite"
	"github.com/ory/fosite/handler/oauth2"

	"github.com/fosite-mcp/fosite-mcp/internal/randid"
)

// reservedClaims are the claims the strategy sets; session extras cannot override them.
var reservedClaims = map[string]bool{
	"iss": true, "sub": true, "aud": true, "client_id": true, "scope": true,
	"exp": true, "iat": true, "nbf": true, "jti": true,
}

// Strategy is the fosite access-token strategy that issues RFC 9068 JWT access tokens.
// Build it with KeyManager.AccessTokenStrategy.
type Strategy struct {
	keys     *KeyManager
	config   *fosite.Config
	issuer   string
	verifier *Verifier
	log      *slog.Logger
}

var _ oauth2.AccessTokenStrategy = (*Strategy)(nil)

// AccessTokenStrategy has the signature of provider.Config.AccessTokenStrategy:
//
//	cfg.AccessTokenStrategy = keys.AccessTokenStrategy
//
// The issuer (iss) and the default lifetime come from the provider's fosite
// configuration. When that lifetime is longer than MaxTokenLifespan, MaxTokenLifespan is
// raised to it, so that retired keys stay published until their tokens have expired.
func (m *KeyManager) AccessTokenStrategy(_ oauth2.CoreStrategy, config *fosite.Config) oauth2.AccessTokenStrategy {
	ctx := context.Background()
	issuer := config.GetAccessTokenIssuer(ctx)
	lifespan := config.GetAccessTokenLifespan(ctx)
	if m.raiseMaxLifespan(lifespan) {
		m.log.Info("JWT access token lifespan is longer than KeyManagerConfig.MaxTokenLifespan; keeping retired keys published longer",
			"lifespan", lifespan)
	}
	if lifespan > 15*time.Minute {
		m.log.Warn("JWT access tokens verified locally stay valid after revocation until they expire; consider a lifespan of 5 to 15 minutes",
			"lifespan", lifespan, "recommended", DefaultAccessTokenLifespan)
	}
	// The strategy's own verifier allows exactly what the manager signs with.
	// No leeway: the authorization server is the clock that issued the token.
	v, _ := NewVerifier(VerifierConfig{Issuer: issuer, Keys: m, Algorithms: []string{"ES256", "RS256"}, Leeway: -1, Now: m.now})
	return &Strategy{keys: m, config: config, issuer: issuer, verifier: v, log: m.log}
}

// AccessTokenSignature implements oauth2.AccessTokenStrategy: the JWS signature, under
// which the token is stored (storage hashes it again).
func (s *Strategy) AccessTokenSignature(_ context.Context, token string) string {
	return signatureOf(token)
}

// GenerateAccessToken implements oauth2.AccessTokenStrategy. The token's exp is the
// session's access-token expiry (set by fosite from provider.Config.AccessTokenLifespan),
// aud the granted audience, sub the subject (the client ID when there is no resource
// owner, as RFC 9068 §2.2 asks for the client credentials grant), and the session's extra
// claims are added unless they collide with the ones above.
func (s *Strategy) GenerateAccessToken(ctx context.Context, r fosite.Requester) (string, string, error) {
	key, err := s.keys.signingKey(ctx)
	if err != nil {
		return "", "", err
	}
	now := s.keys.now().UTC()
	sess := r.GetSession()
	if sess == nil {
		return "", "", errors.New("jwtaccess: request without session")
	}
	exp := sess.GetExpiresAt(fosite.AccessToken)
	if exp.IsZero() {
		exp = now.Add(s.config.GetAccessTokenLifespan(ctx))
	}
	clientID := r.GetClient().GetID()
	sub := sess.GetSubject()
	if sub == "" {
		sub = clientID
	}
	jti, err := randid.New(randid.Unique)
	if err != nil {
		return "", "", err
	}
	claims := map[string]any{}
	if ex, ok := sess.(fosite.ExtraClaimsSession); ok {
		for k, v := range ex.GetExtraClaims() {
			if !reservedClaims[k] {
				claims[k] = v
			}
		}
	}
	claims["iss"] = s.issuer
	claims["sub"] = sub
	if aud := r.GetGrantedAudience(); len(aud) > 0 {
		claims["aud"] = jwt.Audience(aud)
	}
	claims["client_id"] = clientID
	if scopes := r.GetGrantedScopes(); len(scopes) > 0 {
		claims["scope"] = strings.Join(scopes, " ")
	}
	claims["exp"] = exp.Unix()
	claims["iat"] = now.Unix()
	claims["jti"] = jti
	payload, err := json.Marshal(claims)
	if err != nil {
		return "", "", fmt.Errorf("jwtaccess: encoding claims: %w", err)
	}
	obj, err := key.signer.Sign(payload)
	if err != nil {
		return "", "", fmt.Errorf("jwtaccess: signing: %w", err)
	}
	token, err := obj.CompactSerialize()
	if err != nil {
		return "", "", fmt.Errorf("jwtaccess: serializing: %w", err)
	}
	return token, signatureOf(token), nil
}

// ValidateAccessToken implements oauth2.AccessTokenStrategy: the token must verify
// locally (signature, typ, iss, expiry). Whether it is still stored (not revoked) is
// checked by fosite and the provider through the storage.
func (s *Strategy) ValidateAccessToken(ctx context.Context, _ fosite.Requester, token string) error {
	if _, err := s.verifier.VerifyAccessToken(ctx, token); err != nil {
		if errors.Is(err, ErrTokenExpired) {
			return fosite.ErrTokenExpired.WithWrap(err).WithDebug(err.Error())
		}
		return fosite.ErrTokenSignatureMismatch.WithWrap(err).WithDebug(err.Error())
	}
	return nil
}
