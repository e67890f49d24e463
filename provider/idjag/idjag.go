// Package idjag validates Identity Assertion JWT Authorization Grants (ID-JAG,
// draft-ietf-oauth-identity-assertion-authz-grant) issued by trusted enterprise identity
// providers, as the MCP extension io.modelcontextprotocol/enterprise-managed-authorization
// requires of the resource authorization server. It checks the JWS and its claims only;
// a *Validator is a provider.IdentityAssertionValidator: set it as
// provider.Config.IdentityAssertions.Validator and the token endpoint handles the
// jwt-bearer grant, with client authentication, resource and scope narrowing, jti single
// use (Claims.ReplayKey) and the audit log. Options.Audience must be the provider's issuer:
// provider.New refuses a validator with another (Validator.Audience).
package idjag

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"strings"
	"time"

	jose "github.com/go-jose/go-jose/v3"
	"github.com/go-jose/go-jose/v3/jwt"

	"github.com/fosite-mcp/fosite-mcp/internal/netguard"
	"github.com/fosite-mcp/fosite-mcp/provider"
	"github.com/fosite-mcp/fosite-mcp/provider/jwtaccess"
)

// Type is the JWS header typ an ID-JAG carries (draft §3.1).
const Type = "oauth-id-jag+jwt"

// Defaults of Options.
const (
	// DefaultSkew is the clock skew tolerated on exp and iat.
	DefaultSkew = 30 * time.Second
	// DefaultMaxLifetime is the longest exp-iat accepted (ID-JAGs are short-lived).
	DefaultMaxLifetime = 5 * time.Minute
)

// TrustedIdP is one enterprise identity provider whose ID-JAGs are accepted.
type TrustedIdP struct {
	// Issuer is the IdP's issuer identifier, compared exactly with the iss claim.
	Issuer string
	// Keys gives the IdP's public keys by kid. Nil means a jwtaccess.RemoteKeySet for
	// JWKSURL.
	Keys jwtaccess.KeySet
	// JWKSURL is the IdP's JSON Web Key Set (https, or http on a loopback host), used when
	// Keys is nil: fetched on first use, cached, refreshed every 5 minutes and, rate
	// limited, on an unknown kid (jwtaccess.RemoteKeySet's defaults).
	JWKSURL string
	// Algorithms allowed for this IdP. Default RS256 and ES256. "none" and HMAC
	// algorithms are never accepted, whatever is listed.
	Algorithms []string
	// MapSubject maps the IdP's sub to a local subject. Default DefaultSubject.
	MapSubject func(ctx context.Context, iss, sub string) (string, error)
}

// Options configure a Validator.
type Options struct {
	// Audience is our issuer identifier; the aud claim must be exactly it, one value. Required.
	Audience string
	// IdPs are the trusted identity providers. At least one is required.
	IdPs []TrustedIdP
	// Skew tolerated on exp and iat. Default DefaultSkew (30 s).
	Skew time.Duration
	// MaxLifetime is the longest exp-iat accepted. Default DefaultMaxLifetime (5 minutes).
	MaxLifetime time.Duration
	// Now is the clock. Default time.Now.
	Now func() time.Time
	// HTTPClient fetches the JWKSURL key sets. Default: the module's SSRF guard (public
	// addresses only, checked at dial time after DNS; no proxy, no redirects; 10 s), the
	// same as for client ID metadata documents and clients' jwks_uri.
	HTTPClient *http.Client
	// AllowAddress, with the default HTTPClient, admits addresses the SSRF guard refuses
	// (an IdP on a private network; loopback for tests and the demo). Nil: public
	// addresses only.
	AllowAddress func(netip.Addr) bool
	// Logger receives key set fetch failures. Default slog.Default().
	Logger *slog.Logger
}

// Claims are the validated contents of an ID-JAG (provider.IdentityAssertion, what the
// token endpoint issues the access token from).
type Claims = provider.IdentityAssertion

// Error is a refused assertion (provider.IdentityAssertionError): Check names the failed
// check, for invalid_grant's error_description and the audit log; Err keeps a subject
// mapping hook's error for logs. It never contains the assertion.
type Error = provider.IdentityAssertionError

// refuse returns the *Error of a failed check; iss is the claimed issuer and sub the
// subject once the signature verified (both for the audit log), empty when unknown.
func refuse(iss, sub, format string, a ...any) error {
	return &Error{Check: fmt.Sprintf(format, a...), Issuer: iss, Subject: sub}
}

// Validator validates ID-JAGs against a fixed set of trusted IdPs.
type Validator struct {
	o   Options
	idp map[string]*TrustedIdP
}

var _ provider.IdentityAssertionValidator = (*Validator)(nil)

var forbiddenAlg = map[string]bool{"none": true, "HS256": true, "HS384": true, "HS512": true}

// Audience returns Options.Audience, the aud the validator requires. provider.New checks
// it against Config.Issuer (provider.IdentityAssertionAudience).
func (v *Validator) Audience() string { return v.o.Audience }

var _ provider.IdentityAssertionAudience = (*Validator)(nil)

// New checks the options and fills in the defaults.
func New(o Options) (*Validator, error) {
	if o.Audience == "" {
		return nil, errors.New("idjag: Options.Audience is required")
	}
	if len(o.IdPs) == 0 {
		return nil, errors.New("idjag: at least one trusted IdP is required")
	}
	if o.Skew == 0 {
		o.Skew = DefaultSkew
	}
	if o.MaxLifetime == 0 {
		o.MaxLifetime = DefaultMaxLifetime
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.HTTPClient == nil {
		o.HTTPClient = netguard.NewClient(netguard.Options{AllowAddress: o.AllowAddress})
	}
	v := &Validator{o: o, idp: map[string]*TrustedIdP{}}
	for i := range o.IdPs {
		p := o.IdPs[i]
		if p.Issuer == "" || (p.Keys == nil && p.JWKSURL == "") {
			return nil, errors.New("idjag: a trusted IdP needs Issuer and Keys or JWKSURL")
		}
		if p.Keys == nil {
			ks, err := jwtaccess.NewRemoteKeySet(jwtaccess.RemoteKeySetConfig{URL: p.JWKSURL, HTTPClient: o.HTTPClient, Logger: o.Logger})
			if err != nil {
				return nil, fmt.Errorf("idjag: IdP %q: %w", p.Issuer, err)
			}
			p.Keys = ks
		}
		if _, dup := v.idp[p.Issuer]; dup {
			return nil, fmt.Errorf("idjag: IdP %q configured twice", p.Issuer)
		}
		if len(p.Algorithms) == 0 {
			p.Algorithms = []string{"RS256", "ES256"}
		}
		for _, a := range p.Algorithms {
			if forbiddenAlg[a] {
				return nil, fmt.Errorf("idjag: algorithm %q is never accepted", a)
			}
		}
		if p.MapSubject == nil {
			p.MapSubject = DefaultSubject
		}
		v.idp[p.Issuer] = &p
	}
	return v, nil
}

// DefaultSubject namespaces sub by issuer: "idp:" + escaped iss + "#" + escaped sub, so
// two IdPs cannot produce the same local subject.
func DefaultSubject(_ context.Context, iss, sub string) (string, error) {
	return "idp:" + url.QueryEscape(iss) + "#" + url.QueryEscape(sub), nil
}

// maxSubjectLength bounds an ID-JAG's sub in bytes, as OpenID Connect Core §2 bounds
// every sub (255 ASCII characters): the subject it maps to is stored and indexed with the
// grant, and an index counts bytes.
const maxSubjectLength = 255

// rawClaims are the ID-JAG claims (draft §3.1); go-jose's jwt types parse the
// string-or-list and NumericDate forms, resource included.
type rawClaims struct {
	Iss      string           `json:"iss"`
	Sub      string           `json:"sub"`
	Aud      jwt.Audience     `json:"aud"`
	ClientID string           `json:"client_id"`
	JTI      string           `json:"jti"`
	Exp      *jwt.NumericDate `json:"exp"`
	Iat      *jwt.NumericDate `json:"iat"`
	Resource jwt.Audience     `json:"resource"`
	Scope    string           `json:"scope"`
}

// Validate checks the assertion for clientID (the authenticated client) and returns its
// claims. A refused assertion gives an *Error; key set failures are returned as they are.
func (v *Validator) Validate(ctx context.Context, assertion, clientID string) (*Claims, error) {
	jws, err := jose.ParseSigned(assertion)
	if err != nil || len(jws.Signatures) != 1 {
		return nil, refuse("", "", "assertion is not a compact JWS")
	}
	h := jws.Signatures[0].Header
	if typ, _ := h.ExtraHeaders[jose.HeaderType].(string); !strings.EqualFold(typ, Type) {
		return nil, refuse("", "", "typ is not %s", Type)
	}
	// Read iss before verifying only to pick the IdP's keys; nothing else is trusted yet.
	var pre rawClaims
	if err := json.Unmarshal(jws.UnsafePayloadWithoutVerification(), &pre); err != nil {
		return nil, refuse("", "", "claims are not a JSON object")
	}
	idp, ok := v.idp[pre.Iss]
	if !ok {
		return nil, refuse(pre.Iss, "", "iss is not a trusted identity provider")
	}
	if !slices.Contains(idp.Algorithms, h.Algorithm) || forbiddenAlg[h.Algorithm] {
		return nil, refuse(pre.Iss, "", "alg is not allowed for this identity provider")
	}
	key, err := idp.Keys.VerificationKey(ctx, h.KeyID)
	if errors.Is(err, jwtaccess.ErrUnknownKey) {
		return nil, refuse(pre.Iss, "", "kid is not a key of the identity provider")
	}
	if err != nil {
		return nil, err
	}
	payload, err := jws.Verify(key)
	if err != nil {
		return nil, refuse(pre.Iss, "", "signature does not verify")
	}
	var c rawClaims
	if err := json.Unmarshal(payload, &c); err != nil || c.Iss != idp.Issuer {
		// A malformed aud, resource, exp or iat lands here too.
		return nil, refuse(pre.Iss, "", "claims are not valid")
	}
	if len(c.Aud) != 1 || c.Aud[0] != v.o.Audience { // one value, ours (draft §3.1): no assertion for two servers
		return nil, refuse(c.Iss, c.Sub, "aud is not this authorization server")
	}
	now := v.o.Now()
	if c.Exp == nil || c.Iat == nil {
		return nil, refuse(c.Iss, c.Sub, "exp and iat are required")
	}
	exp, iat := c.Exp.Time(), c.Iat.Time()
	switch {
	case !now.Before(exp.Add(v.o.Skew)):
		return nil, refuse(c.Iss, c.Sub, "assertion expired")
	case iat.After(now.Add(v.o.Skew)):
		return nil, refuse(c.Iss, c.Sub, "iat is in the future")
	case exp.Sub(iat) > v.o.MaxLifetime:
		return nil, refuse(c.Iss, c.Sub, "lifetime exceeds %s", v.o.MaxLifetime)
	}
	switch {
	case c.Sub == "":
		return nil, refuse(c.Iss, c.Sub, "sub is required")
	case len(c.Sub) > maxSubjectLength:
		return nil, refuse(c.Iss, "", "sub is longer than %d bytes", maxSubjectLength)
	case c.JTI == "":
		return nil, refuse(c.Iss, c.Sub, "jti is required")
	case c.ClientID == "" || c.ClientID != clientID:
		return nil, refuse(c.Iss, c.Sub, "client_id does not match the authenticated client")
	}
	local, err := idp.MapSubject(ctx, c.Iss, c.Sub)
	if err == nil {
		err = provider.ValidateSubject(local) // a mapping hook's result
	}
	if err != nil {
		return nil, &Error{Check: "subject is not mapped", Issuer: c.Iss, Subject: c.Sub, Err: err}
	}
	return &Claims{Issuer: c.Iss, Subject: c.Sub, Local: local, ClientID: c.ClientID, JTI: c.JTI,
		Resource: []string(c.Resource), Scopes: strings.Fields(c.Scope), Expiry: exp, IssuedAt: iat, ReplayUntil: exp.Add(v.o.Skew)}, nil
}
