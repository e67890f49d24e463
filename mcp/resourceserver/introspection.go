package resourceserver

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/fosite-mcp/fosite-mcp/provider/loopback"
	"github.com/fosite-mcp/fosite-mcp/provider/oauth"
)

// Defaults of [IntrospectionConfig].
const (
	// DefaultIntrospectionTimeout bounds one call of the introspection endpoint.
	DefaultIntrospectionTimeout = 5 * time.Second
	// DefaultIntrospectionMaxBody caps an introspection response.
	DefaultIntrospectionMaxBody = 64 << 10
)

// IntrospectionConfig configures [NewIntrospectionVerifier].
type IntrospectionConfig struct {
	// Endpoint is the authorization server's introspection_endpoint (RFC 7662 §2): https,
	// or http on a loopback host. Required.
	Endpoint string
	// ClientID and ClientSecret authenticate this resource server with
	// client_secret_basic. Required: the endpoint answers confidential clients only, and
	// only those it allows (fosite-mcp: provider.Config.IntrospectionAllowed, by default
	// the static clients the operator created).
	ClientID, ClientSecret string
	// Issuer, when set, must be the iss of every active token (RFC 7662 §2.2), so that a
	// misconfigured endpoint of another server is not trusted. Default: not checked.
	Issuer string
	// HTTPClient sends the requests. Default: a client with [DefaultIntrospectionTimeout].
	HTTPClient *http.Client
	// MaxBodyBytes caps a response. Default [DefaultIntrospectionMaxBody].
	MaxBodyBytes int64
}

// IntrospectionVerifier is an [AccessTokenVerifier] that asks the authorization server
// about each opaque token (RFC 7662 token introspection), for a resource server in
// another process than the authorization server. It sees revocation at once, at the
// price of one HTTP round trip per request (it caches nothing). Safe for concurrent use.
type IntrospectionVerifier struct {
	cfg    IntrospectionConfig
	client *http.Client
}

// NewIntrospectionVerifier validates cfg and returns the verifier. It sends nothing yet.
func NewIntrospectionVerifier(cfg IntrospectionConfig) (*IntrospectionVerifier, error) {
	u, err := url.Parse(cfg.Endpoint)
	if err != nil || u.Host == "" || (u.Scheme != "https" && !(u.Scheme == "http" && loopback.IsHost(u.Hostname()))) {
		return nil, fmt.Errorf("resourceserver: IntrospectionConfig.Endpoint %q must be an https URL (or http on a loopback host)", cfg.Endpoint)
	}
	if cfg.ClientID == "" || cfg.ClientSecret == "" {
		return nil, errors.New("resourceserver: IntrospectionConfig.ClientID and ClientSecret are required")
	}
	if cfg.MaxBodyBytes <= 0 {
		cfg.MaxBodyBytes = DefaultIntrospectionMaxBody
	}
	client := cfg.HTTPClient
	if client == nil {
		client = &http.Client{Timeout: DefaultIntrospectionTimeout}
	}
	return &IntrospectionVerifier{cfg: cfg, client: client}, nil
}

// introspection is the part of an RFC 7662 §2.2 response the verifier reads.
type introspection struct {
	Active    bool            `json:"active"`
	Scope     string          `json:"scope"`
	ClientID  string          `json:"client_id"`
	Subject   string          `json:"sub"`
	Audience  json.RawMessage `json:"aud"`
	Issuer    string          `json:"iss"`
	ExpiresAt int64           `json:"exp"`
	IssuedAt  int64           `json:"iat"`
	TokenType string          `json:"token_type"`
	TokenUse  string          `json:"token_use"`
}

// VerifyAccessToken implements [AccessTokenVerifier]. An inactive token, a refresh token
// and a token of another issuer are errors wrapping [oauth.ErrInvalidToken]; an endpoint
// that cannot be reached or answers 429 or 5xx is an error wrapping
// [oauth.ErrStorageUnavailable] (the middleware answers 503, clients retry); any other
// answer (such as 401 for wrong credentials) is a plain error, a configuration mistake.
func (v *IntrospectionVerifier) VerifyAccessToken(ctx context.Context, token string) (*oauth.AccessToken, error) {
	form := url.Values{"token": {token}, "token_type_hint": {"access_token"}}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, v.cfg.Endpoint, strings.NewReader(form.Encode()))
	if err != nil {
		return nil, fmt.Errorf("resourceserver: introspection request: %w", err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	// RFC 6749 §2.3.1: the credentials are form-encoded before Basic encoding.
	req.SetBasicAuth(url.QueryEscape(v.cfg.ClientID), url.QueryEscape(v.cfg.ClientSecret))
	resp, err := v.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("resourceserver: introspection endpoint unreachable: %w: %w", oauth.ErrStorageUnavailable, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, v.cfg.MaxBodyBytes+1))
	switch {
	case err != nil:
		return nil, fmt.Errorf("resourceserver: reading introspection response: %w: %w", oauth.ErrStorageUnavailable, err)
	case resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode >= 500:
		return nil, fmt.Errorf("resourceserver: introspection endpoint answered %d: %w", resp.StatusCode, oauth.ErrStorageUnavailable)
	case resp.StatusCode != http.StatusOK:
		return nil, fmt.Errorf("resourceserver: introspection endpoint answered %d (check IntrospectionConfig.ClientID and ClientSecret)", resp.StatusCode)
	case int64(len(body)) > v.cfg.MaxBodyBytes:
		return nil, fmt.Errorf("resourceserver: introspection response larger than %d bytes", v.cfg.MaxBodyBytes)
	}
	var in introspection
	if err := json.Unmarshal(body, &in); err != nil {
		return nil, fmt.Errorf("resourceserver: introspection response: %w", err)
	}
	switch {
	case !in.Active:
		return nil, fmt.Errorf("%w: inactive", oauth.ErrInvalidToken)
	case in.TokenUse != "" && in.TokenUse != "access_token",
		in.TokenType != "" && !strings.EqualFold(in.TokenType, "Bearer"):
		return nil, fmt.Errorf("%w: not an access token", oauth.ErrInvalidToken)
	case v.cfg.Issuer != "" && in.Issuer != v.cfg.Issuer:
		return nil, fmt.Errorf("%w: issuer %q", oauth.ErrInvalidToken, in.Issuer)
	}
	aud, err := audience(in.Audience)
	if err != nil {
		return nil, fmt.Errorf("resourceserver: introspection response: %w", err)
	}
	tok := &oauth.AccessToken{Subject: in.Subject, ClientID: in.ClientID, Scopes: strings.Fields(in.Scope), Audience: aud}
	if in.ExpiresAt > 0 {
		tok.ExpiresAt = time.Unix(in.ExpiresAt, 0)
	}
	if in.IssuedAt > 0 {
		tok.IssuedAt = time.Unix(in.IssuedAt, 0)
	}
	return tok, nil
}

// audience reads aud, a string or an array of strings (RFC 7662 §2.2, RFC 7519 §4.1.3).
func audience(raw json.RawMessage) ([]string, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	var one string
	if err := json.Unmarshal(raw, &one); err == nil {
		return []string{one}, nil
	}
	var many []string
	if err := json.Unmarshal(raw, &many); err != nil {
		return nil, errors.New("aud is neither a string nor an array of strings")
	}
	return many, nil
}
