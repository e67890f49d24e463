// Package idjag validates Identity Assertion JWT Authorization Grants (ID-JAG,
// draft-ietf-oauth-identity-assertion-authz-grant) issued by trusted enterprise identity
// providers, as the MCP extension io.modelcontextprotocol/enterprise-managed-authorization
// requires of the resource authorization server. It checks the JWS and its claims only;
// jti single use, client authentication and resource/scope narrowing belong to the token
// endpoint handler that calls Validate.
package idjag

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"

	jose "github.com/go-jose/go-jose/v3"
	"github.com/go-jose/go-jose/v3/jwt"

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
	// Keys gives the IdP's public keys by kid (a jwtaccess.RemoteKeySet for a JWKS URL).
	Keys jwtaccess.KeySet
	// Algorithms allowed for this IdP. Default RS256 and ES256. "none" and HMAC
	// algorithms are never accepted, whatever is listed.
	Algorithms []string
	// MapSubject maps the IdP's sub to a local subject. Default DefaultSubject.
	MapSubject func(ctx context.Context, iss, sub string) (string, error)
}

// Options configure a Validator.
type Options struct {
	// Audience is our issuer identifier; the aud claim must contain it exactly. Required.
	Audience string
	// IdPs are the trusted identity providers. At least one is required.
	IdPs []TrustedIdP
	// Skew tolerated on exp and iat. Default DefaultSkew (30 s).
	Skew time.Duration
	// MaxLifetime is the longest exp-iat accepted. Default DefaultMaxLifetime (5 minutes).
	MaxLifetime time.Duration
	// Now is the clock. Default time.Now.
	Now func() time.Time
}

// Claims are the validated contents of an ID-JAG.
type Claims struct {
	// Issuer is the trusted IdP's issuer (iss).
	Issuer string
	// Subject is sub as the IdP gave it (for the audit log).
	Subject string
	// Local is the mapped local subject (TrustedIdP.MapSubject).
	Local string
	// ClientID is the client_id claim, equal to the authenticated client.
	ClientID string
	// JTI is the assertion ID; the caller stores ReplayKey until Expiry for single use.
	JTI string
	// Resource is the resource claim (RFC 8707 resource identifiers), empty when absent.
	Resource []string
	// Scopes are the scope claim's scopes; the caller intersects them with the request.
	Scopes []string
	// Expiry is exp.
	Expiry time.Time
	// IssuedAt is iat.
	IssuedAt time.Time
}

// Error is a refused assertion; Check names the failed check (for invalid_grant's
// error_description and the audit log). It never contains the assertion.
type Error struct {
	// Check names the failed check; it is safe to show the client.
	Check string
	// Err is the MapSubject hook's error when that check failed, for logs only: a hook
	// may say more than a client should read.
	Err error
}

// Unwrap returns Err.
func (e *Error) Unwrap() error { return e.Err }

// Error implements error.
func (e *Error) Error() string { return "id-jag: " + e.Check }

func refuse(format string, a ...any) error { return &Error{Check: fmt.Sprintf(format, a...)} }

// Validator validates ID-JAGs against a fixed set of trusted IdPs.
type Validator struct {
	o   Options
	idp map[string]*TrustedIdP
}

var forbiddenAlg = map[string]bool{"none": true, "HS256": true, "HS384": true, "HS512": true}

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
	v := &Validator{o: o, idp: map[string]*TrustedIdP{}}
	for i := range o.IdPs {
		p := o.IdPs[i]
		if p.Issuer == "" || p.Keys == nil {
			return nil, errors.New("idjag: a trusted IdP needs Issuer and Keys")
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
		return nil, refuse("assertion is not a compact JWS")
	}
	h := jws.Signatures[0].Header
	if typ, _ := h.ExtraHeaders[jose.HeaderType].(string); !strings.EqualFold(typ, Type) {
		return nil, refuse("typ is not %s", Type)
	}
	// Read iss before verifying only to pick the IdP's keys; nothing else is trusted yet.
	var pre rawClaims
	if err := json.Unmarshal(jws.UnsafePayloadWithoutVerification(), &pre); err != nil {
		return nil, refuse("claims are not a JSON object")
	}
	idp, ok := v.idp[pre.Iss]
	if !ok {
		return nil, refuse("iss is not a trusted identity provider")
	}
	if !slices.Contains(idp.Algorithms, h.Algorithm) || forbiddenAlg[h.Algorithm] {
		return nil, refuse("alg is not allowed for this identity provider")
	}
	key, err := idp.Keys.VerificationKey(ctx, h.KeyID)
	if errors.Is(err, jwtaccess.ErrUnknownKey) {
		return nil, refuse("kid is not a key of the identity provider")
	}
	if err != nil {
		return nil, err
	}
	payload, err := jws.Verify(key)
	if err != nil {
		return nil, refuse("signature does not verify")
	}
	var c rawClaims
	if err := json.Unmarshal(payload, &c); err != nil || c.Iss != idp.Issuer {
		// A malformed aud, resource, exp or iat lands here too.
		return nil, refuse("claims are not valid")
	}
	if !c.Aud.Contains(v.o.Audience) {
		return nil, refuse("aud is not this authorization server")
	}
	now := v.o.Now()
	if c.Exp == nil || c.Iat == nil {
		return nil, refuse("exp and iat are required")
	}
	exp, iat := c.Exp.Time(), c.Iat.Time()
	switch {
	case !now.Before(exp.Add(v.o.Skew)):
		return nil, refuse("assertion expired")
	case iat.After(now.Add(v.o.Skew)):
		return nil, refuse("iat is in the future")
	case exp.Sub(iat) > v.o.MaxLifetime:
		return nil, refuse("lifetime exceeds %s", v.o.MaxLifetime)
	}
	switch {
	case c.Sub == "":
		return nil, refuse("sub is required")
	case c.JTI == "":
		return nil, refuse("jti is required")
	case c.ClientID == "" || c.ClientID != clientID:
		return nil, refuse("client_id does not match the authenticated client")
	}
	local, err := idp.MapSubject(ctx, c.Iss, c.Sub)
	if err != nil {
		return nil, &Error{Check: "subject is not mapped", Err: err}
	}
	return &Claims{Issuer: c.Iss, Subject: c.Sub, Local: local, ClientID: c.ClientID, JTI: c.JTI,
		Resource: []string(c.Resource), Scopes: strings.Fields(c.Scope), Expiry: exp, IssuedAt: iat}, nil
}

// ReplayKey is the key under which the jti is stored for single use, namespaced so it
// cannot collide with private_key_jwt client assertion jtis or another IdP's jtis.
func ReplayKey(c *Claims) string {
	return "id-jag:" + url.QueryEscape(c.Issuer) + ":" + c.JTI
}
