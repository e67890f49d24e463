package gormstore

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"sort"
	"time"

	"github.com/ory/fosite"

	"github.com/fosite-mcp/fosite-mcp/provider"
)

// The plaintext of a session row (before AES-GCM) is a compact binary encoding, decoded on
// every token check and token request: the JSON it replaces cost a quarter of a refresh's
// allocations (two JSON decodes: the request, then the session inside it). Rows written
// before it hold JSON, which starts with '{'; the binary form starts with its version byte,
// so both decode.
//
//	request  := version(0x01) list list list list form session
//	list     := uvarint(n) string*n            (requested scope, granted scope, requested audience, granted audience)
//	form     := uvarint(keys) (string uvarint(n) string*n)*keys   (keys sorted)
//	session  := 0x00                           (none)
//	          | 0x01 string                    (JSON of any fosite.Session)
//	          | 0x02 string uvarint(n) (string varint(unix ns))*n string
//	                                           (*provider.Session: subject, expiry per token type, JSON of Extra or "")
//	string   := uvarint(len) bytes
const (
	codecV1 byte = 0x01

	sessionNone     byte = 0x00
	sessionJSON     byte = 0x01
	sessionProvider byte = 0x02
)

// encodeRequest returns the plaintext for req (see the format above).
func encodeRequest(req fosite.Requester) ([]byte, error) {
	b := make([]byte, 0, 512)
	b = append(b, codecV1)
	for _, l := range [][]string{req.GetRequestedScopes(), req.GetGrantedScopes(), req.GetRequestedAudience(), req.GetGrantedAudience()} {
		b = appendList(b, l)
	}
	form := req.GetRequestForm()
	keys := make([]string, 0, len(form))
	for k := range form {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	b = binary.AppendUvarint(b, uint64(len(keys)))
	for _, k := range keys {
		b = appendString(b, k)
		b = appendList(b, form[k])
	}
	switch sess := req.GetSession().(type) {
	case nil:
		b = append(b, sessionNone)
	case *provider.Session:
		if sess == nil {
			return append(b, sessionNone), nil
		}
		b = append(b, sessionProvider)
		b = appendString(b, sess.Subject)
		types := make([]string, 0, len(sess.ExpiresAt))
		for t := range sess.ExpiresAt {
			types = append(types, string(t))
		}
		sort.Strings(types)
		b = binary.AppendUvarint(b, uint64(len(types)))
		for _, t := range types {
			b = appendString(b, t)
			b = binary.AppendVarint(b, unixNano(sess.ExpiresAt[fosite.TokenType(t)]))
		}
		var extra []byte
		if len(sess.Extra) > 0 {
			var err error
			if extra, err = json.Marshal(sess.Extra); err != nil {
				return nil, fmt.Errorf("gormstore: encode session: %w", err)
			}
		}
		b = appendString(b, string(extra))
	default:
		raw, err := json.Marshal(sess)
		if err != nil {
			return nil, fmt.Errorf("gormstore: encode session: %w", err)
		}
		b = append(b, sessionJSON)
		b = appendString(b, string(raw))
	}
	return b, nil
}

// unixNano encodes t, with 0 for the zero time (never an expiry anyone sets).
func unixNano(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

func fromUnixNano(ns int64) time.Time {
	if ns == 0 {
		return time.Time{}
	}
	return time.Unix(0, ns).UTC()
}

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

func appendList(b []byte, l []string) []byte {
	b = binary.AppendUvarint(b, uint64(len(l)))
	for _, s := range l {
		b = appendString(b, s)
	}
	return b
}

// decodedRequest is the encrypted part of a stored request, decoded.
type decodedRequest struct {
	requestedScope, grantedScope, requestedAudience, grantedAudience []string
	form                                                             url.Values
}

var errCorrupt = errors.New("gormstore: decode request: malformed")

// decodeRequest decodes plain (binary, or the JSON of rows written before it), decoding the
// stored session into session when it is not nil.
func decodeRequest(plain []byte, session fosite.Session) (*decodedRequest, error) {
	if len(plain) > 0 && plain[0] == '{' {
		return decodeJSONRequest(plain, session)
	}
	d := decoder{b: plain}
	if d.byte() != codecV1 {
		return nil, fmt.Errorf("gormstore: decode request: unknown encoding")
	}
	var r decodedRequest
	r.requestedScope, r.grantedScope, r.requestedAudience, r.grantedAudience = d.list(), d.list(), d.list(), d.list()
	if n := d.count(); n > 0 {
		r.form = make(url.Values, n)
		for i := 0; i < n && d.err == nil; i++ {
			k := d.string()
			r.form[k] = d.list()
		}
	}
	switch kind := d.byte(); kind {
	case sessionNone:
	case sessionJSON:
		raw := d.string()
		if d.err == nil && session != nil {
			if err := json.Unmarshal([]byte(raw), session); err != nil {
				return nil, fmt.Errorf("gormstore: decode session: %w", err)
			}
		}
	case sessionProvider:
		ps := &provider.Session{Subject: d.string()}
		if n := d.count(); n > 0 {
			ps.ExpiresAt = make(map[fosite.TokenType]time.Time, n)
			for i := 0; i < n && d.err == nil; i++ {
				t := d.string()
				ps.ExpiresAt[fosite.TokenType(t)] = fromUnixNano(d.varint())
			}
		}
		if extra := d.string(); extra != "" && d.err == nil {
			if err := json.Unmarshal([]byte(extra), &ps.Extra); err != nil {
				return nil, fmt.Errorf("gormstore: decode session: %w", err)
			}
		}
		if d.err == nil && session != nil {
			if err := setSession(session, ps); err != nil {
				return nil, err
			}
		}
	default:
		return nil, errCorrupt
	}
	if d.err != nil || len(d.b) != 0 {
		return nil, errCorrupt
	}
	return &r, nil
}

// setSession stores ps into session as decoding its JSON would (fosite relies on it: the
// token endpoint decodes a stored session into the session it has already set the new
// expiry on): fields the JSON omits when empty are left alone, maps are merged. Directly
// for a *provider.Session, else through the JSON.
func setSession(session fosite.Session, ps *provider.Session) error {
	if dst, ok := session.(*provider.Session); ok {
		if ps.Subject != "" {
			dst.Subject = ps.Subject
		}
		if len(ps.ExpiresAt) > 0 {
			if dst.ExpiresAt == nil {
				dst.ExpiresAt = make(map[fosite.TokenType]time.Time, len(ps.ExpiresAt))
			}
			for k, v := range ps.ExpiresAt {
				dst.ExpiresAt[k] = v
			}
		}
		if len(ps.Extra) > 0 {
			if dst.Extra == nil {
				dst.Extra = make(map[string]interface{}, len(ps.Extra))
			}
			for k, v := range ps.Extra {
				dst.Extra[k] = v
			}
		}
		return nil
	}
	raw, err := json.Marshal(ps)
	if err == nil {
		err = json.Unmarshal(raw, session)
	}
	if err != nil {
		return fmt.Errorf("gormstore: decode session: %w", err)
	}
	return nil
}

// sealedRequest is the JSON encoding of the encrypted part of rows written before the
// binary encoding.
type sealedRequest struct {
	RequestedScope    []string        `json:"rs,omitempty"`
	GrantedScope      []string        `json:"gs,omitempty"`
	RequestedAudience []string        `json:"ra,omitempty"`
	GrantedAudience   []string        `json:"ga,omitempty"`
	Form              url.Values      `json:"f,omitempty"`
	Session           json.RawMessage `json:"s,omitempty"`
}

func decodeJSONRequest(plain []byte, session fosite.Session) (*decodedRequest, error) {
	var payload sealedRequest
	if err := json.Unmarshal(plain, &payload); err != nil {
		return nil, fmt.Errorf("gormstore: decode request: %w", err)
	}
	if session != nil && len(payload.Session) > 0 && string(payload.Session) != "null" {
		if err := json.Unmarshal(payload.Session, session); err != nil {
			return nil, fmt.Errorf("gormstore: decode session: %w", err)
		}
	}
	return &decodedRequest{
		requestedScope: payload.RequestedScope, grantedScope: payload.GrantedScope,
		requestedAudience: payload.RequestedAudience, grantedAudience: payload.GrantedAudience,
		form: payload.Form,
	}, nil
}

// decoder reads the binary encoding; the first error sticks and later reads return zero values.
type decoder struct {
	b   []byte
	err error
}

func (d *decoder) fail() { d.err, d.b = errCorrupt, nil }

func (d *decoder) byte() byte {
	if d.err != nil || len(d.b) == 0 {
		d.fail()
		return 0xff
	}
	c := d.b[0]
	d.b = d.b[1:]
	return c
}

func (d *decoder) uvarint() uint64 { return readVarint(d, binary.Uvarint) }

func (d *decoder) varint() int64 { return readVarint(d, binary.Varint) }

// readVarint reads one varint from d with read (binary.Uvarint or binary.Varint).
func readVarint[T uint64 | int64](d *decoder, read func([]byte) (T, int)) T {
	if d.err != nil {
		return 0
	}
	v, n := read(d.b)
	if n <= 0 {
		d.fail()
		return 0
	}
	d.b = d.b[n:]
	return v
}

// count reads a element count, refusing one larger than the bytes left could hold.
func (d *decoder) count() int {
	n := d.uvarint()
	if n > uint64(len(d.b)) {
		d.fail()
		return 0
	}
	return int(n)
}

func (d *decoder) string() string {
	n := d.count()
	if d.err != nil {
		return ""
	}
	s := string(d.b[:n])
	d.b = d.b[n:]
	return s
}

func (d *decoder) list() []string {
	n := d.count()
	if n == 0 || d.err != nil {
		return nil
	}
	l := make([]string, n)
	for i := range l {
		l[i] = d.string()
	}
	return l
}
